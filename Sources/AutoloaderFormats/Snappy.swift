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
        var out = [UInt8]()
        out.reserveCapacity(Int(length))
        while pos < input.count {
            let tag = input[pos]; pos += 1
            switch tag & 3 {
            case 0:
                var n = Int(tag >> 2)
                if n >= 60 {
                    let extra = n - 59
                    guard pos + extra <= input.count else { throw fail("truncated literal length") }
                    n = 0
                    for i in 0..<extra { n |= Int(input[pos + i]) << (8 * i) }
                    pos += extra
                }
                n += 1
                guard pos + n <= input.count else { throw fail("literal past the end") }
                out.append(contentsOf: input[pos..<(pos + n)])
                pos += n
            default:
                let n: Int, offset: Int
                switch tag & 3 {
                case 1:
                    guard pos < input.count else { throw fail("truncated copy") }
                    n = 4 + Int((tag >> 2) & 7)
                    offset = Int(tag >> 5) << 8 | Int(input[pos]); pos += 1
                case 2:
                    guard pos + 2 <= input.count else { throw fail("truncated copy") }
                    n = 1 + Int(tag >> 2)
                    offset = Int(input[pos]) | Int(input[pos + 1]) << 8; pos += 2
                default:
                    guard pos + 4 <= input.count else { throw fail("truncated copy") }
                    n = 1 + Int(tag >> 2)
                    offset = Int(input[pos]) | Int(input[pos + 1]) << 8 | Int(input[pos + 2]) << 16 | Int(input[pos + 3]) << 24; pos += 4
                }
                guard offset > 0, offset <= out.count else { throw fail("copy offset \(offset) outside the output") }
                let start = out.count - offset
                for i in 0..<n { out.append(out[start + i]) }  // may overlap: byte by byte
            }
            guard out.count <= Int(length) else { throw fail("output longer than declared") }
        }
        guard out.count == Int(length) else { throw fail("output shorter than declared") }
        return out
    }
}
