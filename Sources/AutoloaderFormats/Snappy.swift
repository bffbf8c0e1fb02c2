import AutoloaderCore

/// Raw Snappy block decompression (Parquet's most common page codec). Every length and offset is checked
/// against the buffers, so corrupt input is an error, never a crash.
public enum Snappy {
    public static func decompress(_ input: [UInt8]) throws -> [UInt8] {
        var pos = 0
        func fail(_ why: String) -> ThriftError { ThriftError(description: "snappy: \(why)") }
        var length: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard pos < input.count, shift < 35 else { throw fail("bad length header") }
            let b = input[pos]; pos += 1
            length |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { break }
            shift += 7
        }
        guard length <= 1 << 31 else { throw fail("block too large") }
        let total = Int(length)
        if total == 0 {
            guard pos == input.count else { throw fail("output longer than declared") }
            return []
        }
        // Straight into the output's memory: a literal or a copy that does not overlap itself is one memcpy (the
        // byte-by-byte append was a seventh of a Parquet load's parse thread).
        return try [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
            let out = buffer.baseAddress!
            var o = 0
            defer { initialized = o }
            try input.withUnsafeBufferPointer { source in
                let src = source.baseAddress!
                let end = source.count
                while pos < end {
                    let tag = src[pos]; pos += 1
                    if tag & 3 == 0 {
                        var n = Int(tag >> 2)
                        if n >= 60 {
                            let extra = n - 59
                            guard pos + extra <= end else { throw fail("truncated literal length") }
                            n = 0
                            for i in 0..<extra { n |= Int(src[pos + i]) << (8 * i) }
                            pos += extra
                        }
                        n += 1
                        guard pos + n <= end else { throw fail("literal past the end") }
                        guard o + n <= total else { throw fail("output longer than declared") }
                        (out + o).update(from: src + pos, count: n)
                        pos += n
                        o += n
                        continue
                    }
                    let n: Int, offset: Int
                    switch tag & 3 {
                    case 1:
                        guard pos < end else { throw fail("truncated copy") }
                        n = 4 + Int((tag >> 2) & 7)
                        offset = Int(tag >> 5) << 8 | Int(src[pos]); pos += 1
                    case 2:
                        guard pos + 2 <= end else { throw fail("truncated copy") }
                        n = 1 + Int(tag >> 2)
                        offset = Int(src[pos]) | Int(src[pos + 1]) << 8; pos += 2
                    default:
                        guard pos + 4 <= end else { throw fail("truncated copy") }
                        n = 1 + Int(tag >> 2)
                        offset = Int(src[pos]) | Int(src[pos + 1]) << 8 | Int(src[pos + 2]) << 16 | Int(src[pos + 3]) << 24; pos += 4
                    }
                    guard offset > 0, offset <= o else { throw fail("copy offset \(offset) outside the output") }
                    guard o + n <= total else { throw fail("output longer than declared") }
                    if offset >= n {
                        (out + o).update(from: out + o - offset, count: n)
                    } else {
                        for i in 0..<n { out[o + i] = out[o - offset + i] }  // overlaps itself: byte by byte
                    }
                    o += n
                }
            }
            guard o == total else { throw fail("output shorter than declared") }
        }
    }
}
