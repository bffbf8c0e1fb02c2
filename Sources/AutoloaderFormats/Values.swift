#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte-level value recognisers shared by detection (which type fits?) and loading (convert it).
/// One place decides what a number, a boolean or a null looks like.
public enum Values {
    /// The null spellings (whole field, case-sensitive).
    /// Spellings of "no value" a person would read as empty in a typed column (only the empty field in a text
    /// column). The last, " ", stands for any whitespace-only field.
    public static let nullTokens: [String] = ["", "NULL", "null", "NA", "N/A", "\\N", "?", "-", "NR", " "]
    public static let whitespaceToken = nullTokens.count - 1

    /// Index into `nullTokens`, or nil when the field is a value.
    @inline(__always) public static func nullToken(_ b: UnsafeBufferPointer<UInt8>) -> Int? {
        switch b.count {
        case 0: return 0
        case 1:
            if b[0] == UInt8(ascii: "?") { return 6 }
            if b[0] == UInt8(ascii: "-") { return 7 }
        case 2:
            if b[0] == UInt8(ascii: "N") && b[1] == UInt8(ascii: "A") { return 3 }
            if b[0] == UInt8(ascii: "\\") && b[1] == UInt8(ascii: "N") { return 5 }
            if b[0] == UInt8(ascii: "N") && b[1] == UInt8(ascii: "R") { return 8 }
        case 3:
            if b[0] == UInt8(ascii: "N") && b[1] == UInt8(ascii: "/") && b[2] == UInt8(ascii: "A") { return 4 }
        case 4:
            if b[0] == UInt8(ascii: "N") && b[1] == UInt8(ascii: "U") && b[2] == UInt8(ascii: "L") && b[3] == UInt8(ascii: "L") { return 1 }
            if b[0] == UInt8(ascii: "n") && b[1] == UInt8(ascii: "u") && b[2] == UInt8(ascii: "l") && b[3] == UInt8(ascii: "l") { return 2 }
        default: break
        }
        // Blanks only (checked only when the field starts with one, so values pay nothing).
        if b[0] == 0x20 || b[0] == 0x09, b.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return whitespaceToken }
        return nil
    }

    /// true/false/t/f/yes/no/y/n in any case; 0/1 are numbers, not booleans.
    @inline(__always) public static func boolean(_ b: UnsafeBufferPointer<UInt8>) -> Bool? {
        guard b.count >= 1 && b.count <= 5 else { return nil }
        var lower: UInt64 = 0
        for c in b { lower = lower << 8 | UInt64(c | 0x20) }
        switch (b.count, lower) {
        case (4, 0x7472_7565), (1, 0x74), (3, 0x79_6573), (1, 0x79): return true   // true t yes y
        case (5, 0x66_616c_7365), (1, 0x66), (2, 0x6e6f), (1, 0x6e): return false   // false f no n
        default: return nil
        }
    }

    public struct NumberShape: Equatable, Sendable {
        public enum Kind: Sendable { case integer, decimal, exponent }
        public var kind: Kind
        public var integerDigits: Int
        public var fractionDigits: Int
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`; a leading `+` or a leading zero is not a number
    /// (identifier-safe: ZIP 07460 stays text).
    @inline(__always) public static func numberShape(_ b: UnsafeBufferPointer<UInt8>) -> NumberShape? {
        let n = b.count
        var i = 0
        if i < n && b[i] == UInt8(ascii: "-") { i += 1 }
        let intStart = i
        while i < n && b[i] &- 48 < 10 { i += 1 }
        let intDigits = i - intStart
        if intDigits == 0 { return nil }
        if intDigits > 1 && b[intStart] == UInt8(ascii: "0") { return nil }
        if i == n { return NumberShape(kind: .integer, integerDigits: intDigits, fractionDigits: 0) }
        var frac = 0
        if b[i] == UInt8(ascii: ".") {
            i += 1
            let s = i
            while i < n && b[i] &- 48 < 10 { i += 1 }
            frac = i - s
            if frac == 0 { return nil }
            if i == n { return NumberShape(kind: .decimal, integerDigits: intDigits, fractionDigits: frac) }
        }
        guard b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") else { return nil }
        i += 1
        if i < n && (b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-")) { i += 1 }
        let s = i
        while i < n && b[i] &- 48 < 10 { i += 1 }
        guard i > s && i == n else { return nil }
        return NumberShape(kind: .exponent, integerDigits: intDigits, fractionDigits: frac)
    }

    /// Int64 from canonical integer text, nil on anything else or overflow.
    @inline(__always) public static func int64(_ b: UnsafeBufferPointer<UInt8>) -> Int64? {
        let n = b.count
        guard n > 0 else { return nil }
        var i = 0
        let negative = b[0] == UInt8(ascii: "-")
        if negative { i = 1; guard n > 1 else { return nil } }
        if n - i > 1 && b[i] == UInt8(ascii: "0") { return nil }
        var v: UInt64 = 0
        while i < n {
            let d = b[i] &- 48
            guard d < 10 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(d))
            if o1 || o2 { return nil }
            v = a
            i += 1
        }
        if negative {
            if v > UInt64(Int64.max) + 1 { return nil }
            return v == UInt64(Int64.max) + 1 ? Int64.min : -Int64(v)
        }
        return v > UInt64(Int64.max) ? nil : Int64(v)
    }

    private static let powersOf10: [Double] = (0...22).map { p in (0..<p).reduce(1.0) { x, _ in x * 10 } }

    /// Double from numeric text. Short decimals (≤ 15 digits) are exact int / power of ten, which IEEE
    /// rounds correctly; anything else goes through strtod.
    @inline(__always) public static func double(_ b: UnsafeBufferPointer<UInt8>) -> Double? {
        guard let shape = numberShape(b) else { return nil }
        if shape.kind != .exponent && shape.integerDigits + shape.fractionDigits <= 15 {
            var v: Int64 = 0
            var negative = false
            for c in b {
                if c == UInt8(ascii: "-") { negative = true } else if c != UInt8(ascii: ".") { v = v * 10 + Int64(c - 48) }
            }
            let d = Double(v) / powersOf10[shape.fractionDigits]
            return negative ? -d : d
        }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: b.count + 1) { tmp in
            for (k, c) in b.enumerated() { tmp[k] = CChar(bitPattern: c) }
            tmp[b.count] = 0
            return strtod(tmp.baseAddress!, nil)
        }
    }
}
