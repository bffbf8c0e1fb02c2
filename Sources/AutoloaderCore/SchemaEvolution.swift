/// What a file's columns do to its table, by the table's evolution policy. Pure, and the one place this is
/// decided: the row loader (SQLite, PostgreSQL) and the manifest loader (Redshift) both follow its plan.
public enum SchemaEvolution {
    public struct Plan: Sendable, Equatable {
        /// The table's schema after this file: grown (add_columns), or as it was (rescue, freeze, fail).
        public var table: TableSchema
        /// For each file column, its column in `table`, or nil when it is not loaded (rescue, freeze).
        public var columnIndex: [Int?]
        /// Each way the file differs from a table it may not change (empty under add_columns).
        public var differences: [String]
        /// evolution=fail and the file differs: nothing of it may load.
        public var refused: Bool
    }

    /// `table`: the table's schema, nil before its first file (which always creates it). `named`: the file
    /// names its columns (a header, JSON keys, Parquet), so they match by name; otherwise by position.
    /// `spell`: the warehouse's type name, so that only changes the warehouse would see count. `hinted`: columns
    /// whose type a hint sets (a hint may turn a typed column into text; a file's stray text never does).
    public static func plan(table: TableSchema?, file: TableSchema, named: Bool, policy: TableOptions.Evolution,
                            spell: (ColumnType) -> String, hinted: (String) -> Bool = { _ in false }) -> Plan {
        let policy = table == nil ? .addColumns : policy
        var schema = table ?? TableSchema(columns: [])
        var columnIndex: [Int?] = []
        var differences: [String] = []
        for (k, column) in file.columns.enumerated() {
            if named, let i = schema.index(of: column.name) {
                var joined = schema.columns[i].type.joined(with: column.type)
                // A stray word in a number (or date) column does not make it text: the table keeps its type and
                // such values are bad rows under on_error. Numbers widen within numbers.
                if schema.columns[i].type.isTyped, !joined.isTyped, !hinted(column.name) { joined = schema.columns[i].type }
                if policy == .addColumns {
                    schema.columns[i].type = joined
                } else if spell(joined) != spell(schema.columns[i].type) {
                    differences.append("column \(column.name) needs \(spell(joined)), the table has \(spell(schema.columns[i].type))")
                }
                columnIndex.append(i)
            } else if !named, table != nil, k < schema.columns.count {
                columnIndex.append(k)
            } else if policy == .addColumns {
                var column = column
                if !hinted(column.name) { column.type = column.type.withHeadroom }  // a hint is exact
                schema.columns.append(column)
                columnIndex.append(schema.columns.count - 1)
            } else {
                differences.append("column \(column.name) is not in the table")
                columnIndex.append(nil)
            }
        }
        return Plan(table: schema, columnIndex: columnIndex, differences: differences, refused: policy == .fail && !differences.isEmpty)
    }

    /// What the plan would do to an existing table, as the warehouse would see it: columns added, types widened.
    /// Empty when the table stays as it is.
    public static func changes(from table: TableSchema, to planned: TableSchema, spell: (ColumnType) -> String) -> [String] {
        var changes: [String] = []
        for column in planned.columns {
            if let i = table.index(of: column.name) {
                let was = spell(table.columns[i].type), now = spell(column.type)
                if was != now { changes.append("widen column \(column.name) from \(was) to \(now)") }
            } else {
                changes.append("add column \(column.name) \(spell(column.type))")
            }
        }
        return changes
    }

    /// Why a held file waits: the change it proposes and what to do.
    public static func holdReason(table: String, changes: [String]) -> String {
        "schema change held (schema_changes=hold): " + changes.joined(separator: "; ")
            + " — `autoloader approve \(table)` applies it and loads the file, `autoloader reject \(table)` fails it"
    }

    /// The located reason a refused file gives.
    public static func refusal(_ plan: Plan) -> String {
        plan.differences.joined(separator: "; ")
            + " (evolution=fail: nothing of this file was loaded; set the table's evolution to add_columns, rescue or freeze, or fix the file)"
    }
}
