/// How each warehouse spells the detected types in DDL: data, read by one function, not `if redshift`
/// branches. VARCHAR sizes are a factor over the longest value seen (the seed used 3×), capped per warehouse.
public struct TypeSpelling: Sendable {
    public var name: String
    /// Longest VARCHAR, in the warehouse's unit (Redshift counts UTF-8 bytes, PostgreSQL characters).
    public var maxVarchar: Int?
    public var varcharCountsBytes: Bool
    /// Most digits a DECIMAL holds (Redshift 38, PostgreSQL 1000); more precise values are kept exactly as text.
    public var maxDecimalPrecision: Int
    /// Spelling for each kind; `nil` entries use the parameterised cases below.
    public var names: [TypeKind: String]
    public var jsonType: String
    /// Above the cap (or when sizing is off), text columns use this.
    public var unboundedText: String

    public static let defaultVarcharFactor = 3

    public func sql(_ type: ColumnType, varcharFactor: Int = TypeSpelling.defaultVarcharFactor) -> String {
        switch type.kind {
        case .decimal:
            let p = max(type.precision ?? 18, 1), s = min(type.scale ?? 0, p)
            // Clamping the precision would overflow the values that need it (or cut their decimals): text keeps them.
            if p > maxDecimalPrecision { return sql(.varchar(p + 2, bytes: p + 2), varcharFactor: varcharFactor) }
            return "DECIMAL(\(p),\(s))"
        case .varchar:
            let longest = varcharCountsBytes ? (type.maxBytes ?? type.maxLength ?? 0) : (type.maxLength ?? 0)
            let sized = max(1, longest) * max(1, varcharFactor)
            if let cap = maxVarchar { return sized > cap ? (unboundedText == "" ? "VARCHAR(\(cap))" : unboundedText) : "VARCHAR(\(sized))" }
            return unboundedText
        case .json: return jsonType
        default: return names[type.kind] ?? type.kind.rawValue.uppercased()
        }
    }

    public static let postgres = TypeSpelling(
        name: "PostgreSQL", maxVarchar: 10_485_760, varcharCountsBytes: false, maxDecimalPrecision: 1000,
        names: [.boolean: "BOOLEAN", .smallint: "SMALLINT", .integer: "INTEGER", .bigint: "BIGINT", .double: "DOUBLE PRECISION",
                .date: "DATE", .time: "TIME", .timestamp: "TIMESTAMP", .timestamptz: "TIMESTAMPTZ"],
        jsonType: "JSONB", unboundedText: "TEXT")

    public static let redshift = TypeSpelling(
        name: "Redshift", maxVarchar: 65_535, varcharCountsBytes: true, maxDecimalPrecision: 38,
        names: [.boolean: "BOOLEAN", .smallint: "SMALLINT", .integer: "INTEGER", .bigint: "BIGINT", .double: "DOUBLE PRECISION",
                .date: "DATE", .time: "TIME", .timestamp: "TIMESTAMP", .timestamptz: "TIMESTAMPTZ"],
        jsonType: "SUPER", unboundedText: "")

    /// CREATE TABLE with every identifier quoted.
    public func createTable(_ table: String, schema: TableSchema, varcharFactor: Int = TypeSpelling.defaultVarcharFactor) -> String {
        let defs = schema.columns.map { "  \(SQLIdentifier.quoted($0.name)) \(sql($0.type, varcharFactor: varcharFactor))\($0.nullable ? "" : " NOT NULL")" }
        return "CREATE TABLE \(SQLIdentifier.quoted(table)) (\n\(defs.joined(separator: ",\n"))\n);"
    }
}
