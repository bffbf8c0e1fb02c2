/// Names that reach SQL. Table names derived from folders are sanitised; column names are kept as
/// written and always quoted, so keywords such as `select` or `timestamp` are fine.
public enum SQLIdentifier {
    /// `"name"` with embedded quotes doubled: the one way any identifier reaches SQL text.
    public static func quoted(_ name: String) -> String {
        // Foundation's replacingOccurrences was 4 % of loading many small files; most names hold no quote.
        guard name.utf8.contains(UInt8(ascii: "\"")) else { return "\"" + name + "\"" }
        return "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// A string literal for SQL text (`'it''s'`). Used only for DDL defaults and tests; values travel as parameters.
    public static func literal(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "'", with: "''") + "'"
    }

    /// Table names stay within every warehouse's identifier limit (PostgreSQL's is the smallest: 63 bytes).
    public static let maxTableNameBytes = 63

    /// Prefix of the catalog's own tables; a folder sanitised to it is renamed so users cannot clash with it.
    public static let reservedPrefix = "_autoloader_"

    /// Lower snake case: every run of characters that `keep` refuses becomes one `_`, and none leads or trails
    /// (`Order Date` → `order_date`, `e-mail` → `e_mail`, `Amount ($)` → `amount`). Empty when nothing is kept.
    static func snakeCase(_ raw: String, keep: (Unicode.Scalar) -> Bool) -> String {
        var out = ""
        var pendingUnderscore = false
        for scalar in raw.lowercased().unicodeScalars {
            if keep(scalar) {
                if pendingUnderscore && !out.isEmpty { out.append("_") }
                out.unicodeScalars.append(scalar)
                pendingUnderscore = false
            } else {
                pendingUnderscore = true
            }
        }
        return out
    }

    /// Folder name → safe table name: lower case, `[a-z0-9_]`, no leading digit, never empty, never reserved.
    /// The `n`th table of folders that sanitise to `table` (`orders_2`, `orders_3`…), fitted to the name limit.
    public static func numbered(_ table: String, _ n: Int) -> String {
        let suffix = "_\(n)"
        return String(table.prefix(maxTableNameBytes - suffix.count)) + suffix
    }

    public static func tableName(fromFolder raw: String) -> String {
        let ascii: (Unicode.Scalar) -> Bool = { ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") }
        var out = snakeCase(raw, keep: ascii)
        // A leading separator stays one `_`, as it always has (catalogs hold names made so).
        if out.isEmpty { out = "table" } else if let first = raw.lowercased().unicodeScalars.first, !ascii(first) { out = "_" + out }
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

    /// A column or partition name as a table holds it: lower snake case like a table name, but letters and digits
    /// of any script are kept (a Japanese or accented header stays readable; every warehouse takes them quoted), and a
    /// leading digit gets `_` as dlt does (`2019` → `_2019`). Empty (`$`, `—`) when nothing is left: the caller
    /// names the column by its position.
    public static func columnName(_ raw: String) -> String {
        let out = snakeCase(raw) { $0 == "_" || $0.properties.isAlphabetic || $0.properties.numericType != nil }
        if let first = out.unicodeScalars.first, first.properties.numericType != nil { return "_" + out }
        return out
    }
}
