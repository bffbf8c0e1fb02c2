import Foundation

/// The type lattice shared by detection, the catalog and every warehouse. Widening follows the order
/// boolean → smallint → integer → bigint → decimal → double → varchar; temporal types only join with
/// themselves (same format) and otherwise fall to varchar.
public enum TypeKind: String, Codable, Sendable, CaseIterable {
    case boolean, smallint, integer, bigint, decimal, double, date, time, timestamp, timestamptz, varchar, json
}

public struct ColumnType: Codable, Sendable, Equatable {
    public var kind: TypeKind
    /// decimal only
    public var precision: Int?
    public var scale: Int?
    /// date/time/timestamp(tz): the strptime-style format that parsed every sampled value.
    public var format: String?
    /// varchar only: longest value in Unicode code points and in UTF-8 bytes.
    public var maxLength: Int?
    public var maxBytes: Int?

    public init(kind: TypeKind, precision: Int? = nil, scale: Int? = nil, format: String? = nil, maxLength: Int? = nil, maxBytes: Int? = nil) {
        self.kind = kind
        self.precision = precision
        self.scale = scale
        self.format = format
        self.maxLength = maxLength
        self.maxBytes = maxBytes
    }

    public static let boolean = ColumnType(kind: .boolean)
    public static let smallint = ColumnType(kind: .smallint)
    public static let integer = ColumnType(kind: .integer)
    public static let bigint = ColumnType(kind: .bigint)
    public static let double = ColumnType(kind: .double)
    public static let json = ColumnType(kind: .json)
    public static func varchar(_ length: Int = 0, bytes: Int? = nil) -> ColumnType {
        ColumnType(kind: .varchar, maxLength: length, maxBytes: bytes ?? length)
    }
    public static func decimal(_ p: Int, _ s: Int) -> ColumnType { ColumnType(kind: .decimal, precision: p, scale: s) }

    /// Human/SQL-ish spelling used in listings: `decimal(6,2)`, `date %m/%d/%Y`, `varchar(11)`.
    public var description: String {
        switch kind {
        case .decimal: return "decimal(\(precision ?? 18),\(scale ?? 0))"
        case .varchar: return "varchar(\(maxLength ?? 0))"
        case .date, .time, .timestamp, .timestamptz: return "\(kind.rawValue) \(format ?? "")"
        default: return kind.rawValue
        }
    }

    /// Reads a type hint as users write it: `varchar`, `varchar(10)`, `text`, `int`, `decimal(10,2)`, `double`,
    /// `date %d/%m/%Y`, `timestamptz`, `json`… nil when it is not a type.
    public static func parse(_ text: String) -> ColumnType? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var word = trimmed.lowercased()
        var format: String?
        if let space = trimmed.firstIndex(of: " ") {
            word = trimmed[..<space].lowercased()
            format = String(trimmed[trimmed.index(after: space)...]).trimmingCharacters(in: .whitespaces)
        }
        var args: [Int] = []
        if let open = word.firstIndex(of: "("), word.hasSuffix(")") {
            args = word[word.index(after: open)..<word.index(before: word.endIndex)].split(separator: ",").compactMap {
                Int($0.trimmingCharacters(in: .whitespaces))
            }
            word = String(word[..<open])
        }
        switch word {
        case "varchar", "text", "string", "char": return .varchar(args.first ?? 0)
        case "boolean", "bool": return .boolean
        case "smallint", "int2": return .smallint
        case "integer", "int", "int4": return .integer
        case "bigint", "int8": return .bigint
        case "decimal", "numeric": return .decimal(args.first ?? 18, args.count > 1 ? args[1] : 0)
        case "double", "float", "real", "float8": return .double
        case "json", "jsonb", "super": return .json
        case "date", "time", "timestamp", "timestamptz":
            return ColumnType(kind: TypeKind(rawValue: word)!, format: format)
        default: return nil
        }
    }

    /// The narrowest type holding values of both (used when a later file disagrees with the table).
    public func joined(with other: ColumnType) -> ColumnType {
        if self == other { return self }
        let numeric: [TypeKind] = [.smallint, .integer, .bigint, .decimal, .double]
        if let a = numeric.firstIndex(of: kind), let b = numeric.firstIndex(of: other.kind) {
            if kind == .decimal || other.kind == .decimal, max(a, b) == 3 {
                let s = max(scale ?? 0, other.scale ?? 0)
                let intDigits = max(integerDigits, other.integerDigits)
                return .decimal(intDigits + s, s)
            }
            return max(a, b) == a ? self : other
        }
        if kind == other.kind, kind == .varchar {
            return .varchar(max(maxLength ?? 0, other.maxLength ?? 0), bytes: max(maxBytes ?? 0, other.maxBytes ?? 0))
        }
        if kind == other.kind, kind == .json { return self }
        // The same kind of date or time in another layout: the kind holds both (each file is read with its own).
        if kind == other.kind, [.boolean, .date, .time, .timestamp, .timestamptz].contains(kind) { return self }
        return .varchar(max(maxLength ?? 0, other.maxLength ?? 0, 64), bytes: max(maxBytes ?? 0, other.maxBytes ?? 0, 64))
    }

    /// The type a new column gets: a sample's small numbers say little about the next file's, so integers are
    /// at least INTEGER and decimals keep their scale with at least 18 digits (DECIMAL(5,2) from a sample takes
    /// 1000.00 later). Other types as they are.
    public var withHeadroom: ColumnType {
        switch kind {
        case .smallint: return .integer
        case .decimal: return .decimal(max(precision ?? 18, 18), scale ?? 0)
        default: return self
        }
    }

    public var isTyped: Bool { kind != .varchar && kind != .json }

    private var integerDigits: Int {
        switch kind {
        case .smallint: return 5
        case .integer: return 10
        case .bigint: return 19
        case .decimal: return (precision ?? 18) - (scale ?? 0)
        default: return 0
        }
    }
}

public struct Column: Codable, Sendable, Equatable {
    public var name: String
    public var type: ColumnType
    public var nullable: Bool
    /// Null spellings seen for this column in the sample (empty, NULL, null, NA, N/A, \N).
    public var nullTokens: [String]
    /// The name as the first file that brought the column spelled it (`Order Date` for `order_date`); nil when the
    /// same. Kept in the catalog's schema so a listing can say where a name came from.
    public var original: String?
    public init(name: String, type: ColumnType, nullable: Bool = true, nullTokens: [String] = [], original: String? = nil) {
        self.name = name
        self.type = type
        self.nullable = nullable
        self.nullTokens = nullTokens
        self.original = original
    }
}

/// Extra columns every loaded table carries.
public enum LineageColumn {
    /// The key of the file a row came from: lets an overwritten file replace exactly its own rows.
    public static let sourceFile = "_source_file"
    /// Evolution `rescue`: unknown columns and values that do not fit, as a JSON object.
    public static let rescuedData = "_rescued_data"

    /// The loader's own columns. A file column or partition folder of the same name would forge lineage (a
    /// replace would then delete other files' rows), so it is renamed, and the file's load says so.
    public static let reserved = [sourceFile, rescuedData]
}

/// A file's column and partition names made fit for a table, each change that is more than spelling with its
/// reason for the load's record. Names are snake-cased like table names (`Order Date` → `order_date`, the original
/// kept in `Column.original`), unless the table already has the name as written (tables made before names were
/// sanitised, or created by users with quoted names, keep taking their columns). An empty name becomes `columnN`
/// (its position); the loader's own names (lineage) are renamed; a name longer than the warehouse's identifier limit
/// (PostgreSQL: 63 bytes, which it would silently truncate, so that the next file's ADD COLUMN fails "already
/// exists") is cut at a character boundary. A name that then collides (`Order` and `order`) gets the first free
/// `_2`, `_3`… (case-insensitively, as SQLite compares them), and the load records it.
public enum ColumnNames {
    public struct Rename: Sendable, Equatable {
        public var from: String
        public var to: String
        public var reason: String
    }

    /// `existing`: the table's column and partition names, as it holds them.
    public static func fit(columns: inout [Column], partitions: inout [String: String], maxBytes: Int?,
                           existing: [String] = []) -> [Rename] {
        var held: [String: String] = [:]
        for name in existing { held[name.lowercased()] = name }
        var taken = Set(LineageColumn.reserved)
        var renames: [Rename] = []
        func cut(_ name: String, to limit: Int?) -> String {
            guard let limit, name.utf8.count > limit else { return name }
            var out = ""
            for c in name where out.utf8.count + c.utf8.count <= limit { out.append(c) }
            return out
        }
        func fitted(_ raw: String, position: Int?) -> String {
            var reasons: [String] = []
            var name = held[raw.lowercased()] ?? SQLIdentifier.columnName(raw)
            if name.isEmpty {
                name = position.map { "column\($0)" } ?? "partition"
                if !raw.isEmpty { reasons.append("\(raw.debugDescription) has no letter or digit") }
            }
            if LineageColumn.reserved.contains(name.lowercased()) {
                reasons.append("\(name) is a name autoloader keeps for itself (lineage)")
            } else if maxBytes.map({ name.utf8.count > $0 }) == true {
                reasons.append("longer than the warehouse's \(maxBytes!)-byte limit for names")
                name = cut(name, to: maxBytes)
            }
            if taken.contains(name.lowercased()) {
                if !LineageColumn.reserved.contains(name.lowercased()) { reasons.append("another column of the file is also named \(name)") }
                var n = 2
                func numbered() -> String { let suffix = "_\(n)"; return cut(name, to: maxBytes.map { $0 - suffix.utf8.count }) + suffix }
                while taken.contains(numbered().lowercased()) { n += 1 }
                name = numbered()
            }
            taken.insert(name.lowercased())
            if !reasons.isEmpty {
                renames.append(Rename(from: raw, to: name, reason: reasons.joined(separator: "; ") + "; this file's \(raw.debugDescription) is loaded as \(name)"))
            }
            return name
        }
        for i in columns.indices {
            let raw = columns[i].name
            columns[i].name = fitted(raw, position: i + 1)
            columns[i].original = columns[i].name == raw ? nil : raw
        }
        for key in partitions.keys.sorted() {
            let name = fitted(key, position: nil)
            if name != key { partitions[name] = partitions.removeValue(forKey: key) }
        }
        return renames
    }
}

public struct TableSchema: Codable, Sendable, Equatable {
    public var columns: [Column]
    public init(columns: [Column]) { self.columns = columns }
    public func index(of name: String) -> Int? {
        columns.firstIndex { $0.name.lowercased() == name.lowercased() }
    }
}
