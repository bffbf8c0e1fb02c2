import AutoloaderCore
#if canImport(Glibc)
import Glibc
#endif

/// East Asian multi-byte text → UTF-8 through the C library's iconv (glibc's gconv modules: nothing to bundle),
/// on the fly. A sequence cut by a chunk's end waits for the next chunk; a byte sequence the encoding does not
/// have becomes U+FFFD, so a bad byte costs its character, not the file.
public final class IconvToUTF8Reader: ByteReader {
    private let inner: any ByteReader
    private let converter: iconv_t
    private var chunks: ChunkedConversion

    public init(_ inner: any ByteReader, from name: String, chunk: Int = 1 << 16) throws {
        guard let converter = iconv_open("UTF-8", name), converter != iconv_t(bitPattern: -1) else {
            throw AutoloaderError.badInput(SourceLocation(file: ""), reason: "this system cannot read \(name) text (no iconv converter for it)")
        }
        self.inner = inner
        self.converter = converter
        chunks = ChunkedConversion(chunk: chunk)
    }

    deinit { iconv_close(converter) }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        // Not strict: every sequence is used (an invalid one as U+FFFD), so the count is always there.
        try chunks.read(into: buffer, from: inner) { [converter] input, atEnd, output in
            Self.convert(converter, input, atEnd: atEnd, strict: false, into: &output) ?? input.count
        }
    }

    /// The whole of `bytes` in `target` (UTF-8 unless said), or nil when it is not valid text in `name` (a
    /// sample's cut last character excepted): how detection tells the encodings apart.
    public static func decodeStrictly(_ bytes: [UInt8], from name: String, to target: String = "UTF-8") -> [UInt8]? {
        guard let converter = iconv_open(target, name), converter != iconv_t(bitPattern: -1) else { return nil }
        defer { iconv_close(converter) }
        var out: [UInt8] = []
        return convert(converter, bytes, atEnd: false, strict: true, into: &out) == nil ? nil : out
    }

    /// Converts what it can; returns the input bytes used (the rest: an incomplete sequence at the end, unless
    /// `atEnd`), or nil when `strict` and a sequence is invalid.
    static func convert(_ converter: iconv_t, _ input: [UInt8], atEnd: Bool, strict: Bool, into out: inout [UInt8]) -> Int? {
        var input = input
        let total = input.count
        var left = total
        var chunk = [UInt8](repeating: 0, count: max(64, total * 4))
        return input.withUnsafeMutableBytes { source -> Int? in
            var inPointer = source.baseAddress?.assumingMemoryBound(to: CChar.self)
            while left > 0 {
                let produced: Int, code: Int32, failed: Bool
                (produced, code, failed) = chunk.withUnsafeMutableBytes { target in
                    var outPointer = target.baseAddress?.assumingMemoryBound(to: CChar.self)
                    var room = target.count
                    let result = iconv(converter, &inPointer, &left, &outPointer, &room)
                    return (target.count - room, errno, result == -1)
                }
                out.append(contentsOf: chunk[0..<produced])
                guard failed else { continue }
                switch code {
                case E2BIG: continue  // the output chunk filled: go on
                case EINVAL:  // an incomplete sequence at the end
                    if !atEnd { return total - left }
                    if strict { return total - left }
                    out.append(contentsOf: [0xEF, 0xBF, 0xBD])
                    left = 0
                default:  // EILSEQ: not this encoding's
                    if strict { return nil }
                    out.append(contentsOf: [0xEF, 0xBF, 0xBD])
                    inPointer = inPointer.map { $0 + 1 }
                    left -= 1
                }
            }
            return total
        }
    }
}

/// The one place that turns a file's bytes into the UTF-8 everything after detection reads.
public enum Transcoding {
    public static func utf8Reader(_ input: any ByteReader, from encoding: Dialect.Encoding) throws -> any ByteReader {
        switch encoding {
        case .utf8, .utf8BOM: return input
        case .latin1, .windows1252, .utf8Mixed: return Windows1252ToUTF8Reader(input, mixed: encoding == .utf8Mixed)
        case .utf16LE, .utf16BE: return UTF16ToUTF8Reader(input, littleEndian: encoding == .utf16LE)
        case .shiftJIS, .eucJP, .eucKR, .gb18030, .big5: return try IconvToUTF8Reader(input, from: encoding.iconvName ?? encoding.rawValue)
        }
    }
}
