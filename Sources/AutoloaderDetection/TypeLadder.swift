import AutoloaderCore
import AutoloaderFormats

/// The type ladder and the date/time formats, as data in one place. Order matters: the first format that
/// parses every value of a column wins (US month/day before European when no day > 12 tells them apart).
public enum TypeLadder {
    static let datePatterns = ["%Y-%m-%d", "%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y", "%Y/%m/%d"]
    static let timePatterns = ["%H:%M:%S", "%H:%M:%S.%f", "%H:%M"]

    public static let temporalFormats: [TemporalFormat] = {
        var list: [(String, TypeKind)] = []
        for d in datePatterns { list.append((d, .date)) }
        for t in timePatterns { list.append((t, .time)) }
        var stamps: [String] = []
        for sep in ["T", " "] {
            for t in ["%H:%M:%S", "%H:%M:%S.%f", "%H:%M"] { stamps.append("%Y-%m-%d" + sep + t) }
        }
        for d in datePatterns.dropFirst() {
            for t in ["%H:%M:%S", "%H:%M:%S.%f", "%H:%M"] { stamps.append(d + " " + t) }
        }
        for s in stamps { list.append((s, .timestamp)) }
        for s in stamps { list.append((s + "%z", .timestamptz)) }
        return list.compactMap { TemporalFormat($0.0, kind: $0.1) }
    }()

    /// Smallest integer type holding [min, max].
    static func integerType(min: Int64, max: Int64) -> ColumnType {
        if min >= Int64(Int16.min) && max <= Int64(Int16.max) { return .smallint }
        if min >= Int64(Int32.min) && max <= Int64(Int32.max) { return .integer }
        return .bigint
    }

    /// Decimals keep at most this many fractional digits; more (or an exponent) means double.
    static let maxDecimalScale = 6
}

/// Everything one column's values have shown so far; `resolve()` walks the ladder.
public struct ColumnStats: Sendable {
    public private(set) var values = 0
    public private(set) var nulls = 0
    /// Bit i set: `Values.nullTokens[i]` was seen.
    var nullTokenBits: UInt16 = 0
    var allBoolean = true
    /// Booleans seen: true, false, and as a word (`yes`, `true`) rather than a letter (`y`, `t`).
    var sawTrue = false, sawFalse = false, sawBooleanWord = false
    var allInteger = true
    var integerOverflow = false
    var minInt = Int64.max, maxInt = Int64.min
    var allDecimal = true
    var allNumber = true
    var maxIntegerDigits = 0
    var maxFractionDigits = 0
    var temporalAlive: UInt64 = TypeLadder.temporalFormats.count >= 64 ? .max : (1 << UInt64(TypeLadder.temporalFormats.count)) - 1
    public private(set) var maxLength = 0
    public private(set) var maxBytes = 0
    public private(set) var sample: String?

    public init() {}

    public mutating func add(_ b: UnsafeBufferPointer<UInt8>) {
        if let token = Values.nullToken(b) {
            nulls += 1
            nullTokenBits |= 1 << UInt16(token)
            return
        }
        values += 1
        if sample == nil { sample = String(decoding: b.prefix(80), as: UTF8.self) }
        let length = UTF8Validation.codePointCount(b)
        if length > maxLength { maxLength = length }
        if b.count > maxBytes { maxBytes = b.count }
        if allBoolean {
            if let truth = Values.boolean(b) {
                if truth { sawTrue = true } else { sawFalse = true }
                if b.count > 1 { sawBooleanWord = true }
            } else {
                allBoolean = false
            }
        }
        if allNumber {
            if let shape = Values.numberShape(b) {
                maxIntegerDigits = max(maxIntegerDigits, shape.integerDigits)
                maxFractionDigits = max(maxFractionDigits, shape.fractionDigits)
                switch shape.kind {
                case .integer:
                    if let v = Values.int64(b) {
                        if v < minInt { minInt = v }
                        if v > maxInt { maxInt = v }
                    } else {
                        integerOverflow = true
                    }
                case .decimal: allInteger = false
                case .exponent: allInteger = false; allDecimal = false
                }
            } else {
                allNumber = false; allInteger = false; allDecimal = false
            }
        }
        if temporalAlive != 0 {
            var alive = temporalAlive
            while alive != 0 {
                let i = alive.trailingZeroBitCount
                alive &= alive - 1
                if TypeLadder.temporalFormats[i].parse(b) == nil { temporalAlive &= ~(1 << UInt64(i)) }
            }
        }
    }

    public var nullTokens: [String] {
        Values.nullTokens.indices.filter { nullTokenBits & (1 << UInt16($0)) != 0 }.map { Values.nullTokens[$0] }
    }

    public var nullable: Bool { nulls > 0 || values == 0 }

    public func resolve() -> ColumnType {
        if values == 0 { return .varchar(0) }
        // A lone letter (a column of `y` marks) is a code, not a truth value, unless both of a pair are seen.
        if allBoolean, sawBooleanWord || (sawTrue && sawFalse) { return .boolean }
        if allNumber && allInteger {
            if integerOverflow { return .decimal(maxIntegerDigits, 0) }
            return TypeLadder.integerType(min: minInt, max: maxInt)
        }
        if allNumber && allDecimal && maxFractionDigits <= TypeLadder.maxDecimalScale {
            return .decimal(maxIntegerDigits + maxFractionDigits, maxFractionDigits)
        }
        if allNumber { return .double }
        if temporalAlive != 0 {
            let f = TypeLadder.temporalFormats[temporalAlive.trailingZeroBitCount]
            return ColumnType(kind: f.kind, format: f.pattern)
        }
        return .varchar(maxLength, bytes: maxBytes)
    }

    /// For values that can only be text (JSON strings): a date/time format that parses all, else varchar.
    public func resolveText() -> ColumnType {
        if values == 0 { return .varchar(0) }
        if temporalAlive != 0 {
            let f = TypeLadder.temporalFormats[temporalAlive.trailingZeroBitCount]
            return ColumnType(kind: f.kind, format: f.pattern)
        }
        return .varchar(maxLength, bytes: maxBytes)
    }

    /// Would this column's type (from the body) accept `b`? Used to tell a header row from data.
    public func accepts(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        if Values.nullToken(b) != nil { return true }
        let type = resolve()
        switch type.kind {
        case .boolean: return Values.boolean(b) != nil
        case .smallint, .integer, .bigint: return Values.int64(b) != nil
        case .decimal: return Values.numberShape(b).map { $0.kind != .exponent } ?? false
        case .double: return Values.numberShape(b) != nil
        case .date, .time, .timestamp, .timestamptz:
            return TemporalFormat(type.format ?? "", kind: type.kind)?.parse(b) != nil
        case .varchar, .json: return true
        }
    }
}
