/// Names that reach SQL. Table names derived from folders are sanitised; column names are kept as
/// written and always quoted, so keywords such as `select` or `timestamp` are fine.
public enum SQLIdentifier {
    /// `"name"` with embedded quotes doubled: the one way any identifier reaches SQL text.
    public static func quoted(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// A string literal for SQL text (`'it''s'`). Used only for DDL defaults and tests; values travel as parameters.
    public static func literal(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "'", with: "''") + "'"
    }

    /// Table names stay within every warehouse's identifier limit (PostgreSQL's is the smallest: 63 bytes).
    public static let maxTableNameBytes = 63

    /// Prefix of the catalog's own tables; a folder sanitised to it is renamed so users cannot clash with it.
    public static let reservedPrefix = "_autoloader_"

    /// Folder name → safe table name: lower case, `[a-z0-9_]`, no leading digit, never empty, never reserved.
    public static func tableName(fromFolder raw: String) -> String {
        var out = ""
        var lastUnderscore = false
        for scalar in raw.lowercased().unicodeScalars {
            let ok = (scalar >= "a" && scalar <= "z") || (scalar >= "0" && scalar <= "9")
            if ok {
                out.unicodeScalars.append(scalar)
                lastUnderscore = false
            } else if !lastUnderscore {
                out.append("_")
                lastUnderscore = true
            }
        }
        while out.hasSuffix("_") && out.count > 1 { out.removeLast() }
        if out.isEmpty || out == "_" { out = "table" }
        if let first = out.unicodeScalars.first, first >= "0" && first <= "9" { out = "t_" + out }
        if out.hasPrefix(reservedPrefix) { out = "t" + out }
        // PostgreSQL cuts longer names silently (63 bytes); the catalog adds `_N` to tell folders apart.
        return String(out.prefix(maxTableNameBytes))
    }

    /// Folder `schema.table` → table `schema.table` where the warehouse has schemas (the seed's convention):
    /// each part sanitised like a folder name, split at the first dot. Without schemas (SQLite) the dot is just
    /// another separator: `sales.orders` → `sales_orders`.
    public static func tableName(fromFolder raw: String, schemas: Bool) -> String {
        guard schemas, let dot = raw.firstIndex(of: "."), dot != raw.startIndex, raw.index(after: dot) != raw.endIndex else {
            return tableName(fromFolder: raw)
        }
        return tableName(fromFolder: String(raw[..<dot])) + "." + tableName(fromFolder: String(raw[raw.index(after: dot)...]))
    }

    /// A table name as the catalog holds it → its schema (nil: the warehouse's default) and its name in that schema.
    /// Sanitised names contain a dot only as `schema.table`; a name given with `load --table` may too.
    public static func split(_ table: String) -> (schema: String?, name: String) {
        guard let dot = table.firstIndex(of: "."), dot != table.startIndex, table.index(after: dot) != table.endIndex else { return (nil, table) }
        return (String(table[..<dot]), String(table[table.index(after: dot)...]))
    }

    /// `"schema"."table"` for a catalog table name, in `defaultSchema` unless it names its own.
    public static func qualified(_ table: String, defaultSchema: String) -> String {
        let (schema, name) = split(table)
        return quoted(schema ?? defaultSchema) + "." + quoted(name)
    }

    /// Column names from a header: kept as written, but empty names become `columnN` and duplicates get `_2`, `_3`….
    public static func uniqueColumnNames(_ names: [String]) -> [String] {
        var seen = Set<String>()
        var result: [String] = []
        for (index, raw) in names.enumerated() {
            var name = raw.isEmpty ? "column\(index + 1)" : raw
            if seen.contains(name.lowercased()) {
                var n = 2
                while seen.contains("\(name)_\(n)".lowercased()) { n += 1 }
                name = "\(name)_\(n)"
            }
            seen.insert(name.lowercased())
            result.append(name)
        }
        return result
    }
}
