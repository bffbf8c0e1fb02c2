import AutoloaderCore
import CCompression

/// Compression wrappers, found from magic bytes (never the file name) and undone as a stream.
public enum Decompression {
    public static func compression(ofHead head: [UInt8]) -> Compression {
        if head.count >= 2, head[0] == 0x1F, head[1] == 0x8B { return .gzip }
        if head.count >= 3, head[0] == 0x42, head[1] == 0x5A, head[2] == 0x68 { return .bzip2 }  // "BZh"
        if head.count >= 4, head[0] == 0x28, head[1] == 0xB5, head[2] == 0x2F, head[3] == 0xFD { return .zstd }
        return .none
    }

    /// Peeks at the first bytes and returns a reader of the decompressed content.
    public static func open(_ reader: any ByteReader, name: String) throws -> (reader: any ByteReader, compression: Compression) {
        let (head, _) = try readPrefix(reader, maxBytes: 4)
        let replay = PrefixedReader(prefix: head, rest: reader)
        switch compression(ofHead: head) {
        case .none: return (replay, .none)
        case .gzip: return (try GzipReader(replay, name: name), .gzip)
        case .bzip2: return (try Bzip2Reader(replay, name: name), .bzip2)
        case .zstd: return (try ZstdReader(replay, name: name), .zstd)
        }
    }
}

/// Shared input buffering for the decompressors: compressed bytes are read in 256 KB chunks.
private struct InputBuffer {
    var bytes = [UInt8](repeating: 0, count: 256 << 10)
    var start = 0
    var end = 0
    var eof = false
    var available: Int { end - start }

    mutating func fill(from reader: any ByteReader) throws {
        guard !eof, start >= end else { return }
        let n = try bytes.withUnsafeMutableBytes { try reader.read(into: $0) }
        start = 0
        end = n
        if n == 0 { eof = true }
    }
}

/// gzip (and zlib) via zlib's inflate. Concatenated members (`cat a.gz b.gz`) are read one after another;
/// a stream that ends before its trailer is an error, never a silently short file. `raw`: bare deflate data with
/// no header or trailer (Avro's deflate codec), one stream.
public final class GzipReader: ByteReader {
    private let inner: any ByteReader
    private let name: String
    private let raw: Bool
    private var stream = z_stream()
    private var input = InputBuffer()
    private var finished = false

    public init(_ inner: any ByteReader, name: String, raw: Bool = false) throws {
        self.inner = inner
        self.name = name
        self.raw = raw
        // 15 + 32: any window size, gzip or zlib header detected automatically; -15: no header at all.
        guard inflateInit2_(&stream, raw ? -15 : 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw AutoloaderError.badInput(SourceLocation(file: name), reason: "cannot start gzip decompression")
        }
    }

    deinit { inflateEnd(&stream) }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while !finished {
            try input.fill(from: inner)
            if input.available == 0 && input.eof {
                throw AutoloaderError.badInput(SourceLocation(file: name), reason: "gzip stream ends early (truncated file); nothing of it is loaded")
            }
            let (start, available) = (input.start, input.available)  // not `input` inside: exclusive access
            let (produced, status, consumed): (Int, Int32, Int) = input.bytes.withUnsafeMutableBufferPointer { src in
                stream.next_in = src.baseAddress! + start
                stream.avail_in = UInt32(available)
                stream.next_out = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
                stream.avail_out = UInt32(buffer.count)
                let status = inflate(&stream, Z_NO_FLUSH)
                return (buffer.count - Int(stream.avail_out), status, available - Int(stream.avail_in))
            }
            input.start += consumed
            switch status {
            case Z_STREAM_END:
                // Another member may follow.
                if raw { finished = true; break }
                try input.fill(from: inner)
                if input.available == 0 && input.eof { finished = true } else { inflateReset(&stream) }
            case Z_OK, Z_BUF_ERROR:
                break
            default:
                let message = stream.msg.map { String(cString: $0) } ?? "code \(status)"
                throw AutoloaderError.badInput(SourceLocation(file: name), reason: "corrupt gzip data (\(message))")
            }
            if produced > 0 { return produced }
        }
        return 0
    }
}

/// bzip2 via libbz2; concatenated streams (pbzip2 writes them) are read one after another.
public final class Bzip2Reader: ByteReader {
    private let inner: any ByteReader
    private let name: String
    private var stream = bz_stream()
    private var input = InputBuffer()
    private var finished = false

    public init(_ inner: any ByteReader, name: String) throws {
        self.inner = inner
        self.name = name
        guard BZ2_bzDecompressInit(&stream, 0, 0) == BZ_OK else {
            throw AutoloaderError.badInput(SourceLocation(file: name), reason: "cannot start bzip2 decompression")
        }
    }

    deinit { BZ2_bzDecompressEnd(&stream) }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while !finished {
            try input.fill(from: inner)
            if input.available == 0 && input.eof {
                throw AutoloaderError.badInput(SourceLocation(file: name), reason: "bzip2 stream ends early (truncated file); nothing of it is loaded")
            }
            let (start, available) = (input.start, input.available)
            let (produced, status, consumed): (Int, Int32, Int) = input.bytes.withUnsafeMutableBufferPointer { src in
                src.withMemoryRebound(to: CChar.self) { s in
                    stream.next_in = s.baseAddress! + start
                    stream.avail_in = UInt32(available)
                    stream.next_out = buffer.baseAddress!.assumingMemoryBound(to: CChar.self)
                    stream.avail_out = UInt32(buffer.count)
                    let status = BZ2_bzDecompress(&stream)
                    return (buffer.count - Int(stream.avail_out), status, available - Int(stream.avail_in))
                }
            }
            input.start += consumed
            switch status {
            case BZ_STREAM_END:
                try input.fill(from: inner)
                if input.available == 0 && input.eof {
                    finished = true
                } else {
                    BZ2_bzDecompressEnd(&stream)
                    stream = bz_stream()
                    BZ2_bzDecompressInit(&stream, 0, 0)
                }
            case BZ_OK:
                break
            default:
                throw AutoloaderError.badInput(SourceLocation(file: name), reason: "corrupt bzip2 data (code \(status))")
            }
            if produced > 0 { return produced }
        }
        return 0
    }
}

/// zstd via libzstd's streaming API; multiple frames are read one after another.
public final class ZstdReader: ByteReader {
    private let inner: any ByteReader
    private let name: String
    private let stream: OpaquePointer
    private var input = InputBuffer()
    private var frameOpen = false

    public init(_ inner: any ByteReader, name: String) throws {
        self.inner = inner
        self.name = name
        guard let s = ZSTD_createDStream() else {
            throw AutoloaderError.badInput(SourceLocation(file: name), reason: "cannot start zstd decompression")
        }
        stream = s
        ZSTD_initDStream(stream)
    }

    deinit { ZSTD_freeDStream(stream) }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            try input.fill(from: inner)
            if input.available == 0 && input.eof {
                if frameOpen {
                    throw AutoloaderError.badInput(SourceLocation(file: name), reason: "zstd stream ends early (truncated file); nothing of it is loaded")
                }
                return 0
            }
            var out = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
            let (start, available) = (input.start, input.available)
            let (hint, consumed): (Int, Int) = input.bytes.withUnsafeBytes { src in
                var inBuf = ZSTD_inBuffer(src: src.baseAddress! + start, size: available, pos: 0)
                let hint = ZSTD_decompressStream(stream, &out, &inBuf)
                return (hint, inBuf.pos)
            }
            input.start += consumed
            if ZSTD_isError(hint) != 0 {
                throw AutoloaderError.badInput(SourceLocation(file: name), reason: "corrupt zstd data (\(String(cString: ZSTD_getErrorName(hint))))")
            }
            frameOpen = hint != 0
            if out.pos > 0 { return out.pos }
        }
    }
}
