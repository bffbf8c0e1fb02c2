/// UTF-8 validation over raw bytes with an ASCII fast path (8 bytes at a time).
public enum UTF8Validation {
    /// Offset of the first byte that is not valid UTF-8, or nil. With `allowTruncatedEnd`, an incomplete
    /// sequence at the very end is accepted (a sample cut in the middle of a character).
    public static func firstInvalidByte(_ bytes: UnsafeBufferPointer<UInt8>, allowTruncatedEnd: Bool = false) -> Int? {
        let n = bytes.count
        guard let base = bytes.baseAddress else { return nil }
        var i = 0
        while i < n {
            // ASCII fast path
            while i + 8 <= n, UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self) & 0x8080_8080_8080_8080 == 0 { i += 8 }
            if i >= n { break }
            let b = base[i]
            if b < 0x80 { i += 1; continue }
            let need: Int
            let minValue: UInt32
            var value: UInt32
            switch b {
            case 0xC2...0xDF: need = 1; value = UInt32(b & 0x1F); minValue = 0x80
            case 0xE0...0xEF: need = 2; value = UInt32(b & 0x0F); minValue = 0x800
            case 0xF0...0xF4: need = 3; value = UInt32(b & 0x07); minValue = 0x10000
            default: return i
            }
            if i + need >= n {  // not enough bytes left for the sequence
                if allowTruncatedEnd {
                    for j in (i + 1)..<n where base[j] & 0xC0 != 0x80 { return i }
                    return nil
                }
                return i
            }
            for j in 1...need {
                let c = base[i + j]
                if c & 0xC0 != 0x80 { return i }
                value = (value << 6) | UInt32(c & 0x3F)
            }
            if value < minValue || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF) { return i }
            i += need + 1
        }
        return nil
    }

    /// True when the bytes hold at least one well-formed multi-byte sequence (then they are meant as UTF-8).
    public static func containsMultibyteSequence(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        let n = bytes.count
        while i < n {
            let b = bytes[i]
            if b >= 0xC2 && b <= 0xF4 {
                let need = b >= 0xF0 ? 3 : (b >= 0xE0 ? 2 : 1)
                if i + need < n, (1...need).allSatisfy({ bytes[i + $0] & 0xC0 == 0x80 }) { return true }
            }
            i += 1
        }
        return false
    }

    /// Unicode code points in valid UTF-8 bytes: every byte that is not a continuation byte starts one.
    @inline(__always) public static func codePointCount(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var count = 0
        for b in bytes where b & 0xC0 != 0x80 { count += 1 }
        return count
    }
}
