import Foundation
import AutoloaderCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a local file with plain `read(2)`: no Foundation buffering on the hot path.
public final class FileByteReader: ByteReader, RandomAccessReader {
    private let fd: Int32
    public let path: String

    public init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw AutoloaderError.unreadable(file: path, reason: String(cString: strerror(errno))) }
    }

    deinit { close(fd) }

    public var size: Int64 {
        var st = stat()
        return fstat(fd, &st) == 0 ? Int64(st.st_size) : 0
    }

    public func read(at offset: Int64, count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw AutoloaderError.unreadable(file: path, reason: String(cString: strerror(errno)))
            }
            if n == 0 { throw AutoloaderError.badInput(SourceLocation(file: path), reason: "file ends at \(offset + Int64(done)), expected \(count - done) more bytes") }
            done += n
        }
        return out
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw AutoloaderError.unreadable(file: path, reason: String(cString: strerror(errno)))
        }
    }
}

/// Hashes the raw bytes as they pass, so the content hash costs no second read of the file.
public final class HashingReader: ByteReader {
    private let inner: any ByteReader
    private var hasher = SHA256()
    public private(set) var bytesRead: Int64 = 0

    public init(_ inner: any ByteReader) { self.inner = inner }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try inner.read(into: buffer)
        if n > 0 {
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            bytesRead += Int64(n)
        }
        return n
    }

    /// Drains what is left (so the hash covers the whole file) and returns the hex digest.
    public func finish() throws -> String {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 8)
        defer { scratch.deallocate() }
        while try read(into: scratch) > 0 {}
        return hasher.finalizeHex()
    }
}

/// Single-byte Western text → UTF-8 on the fly, so everything after it sees UTF-8: Latin-1 and Windows-1252
/// (one table: Windows-1252 is Latin-1 with printable characters — € ’ “ ” — where Latin-1 has unused control
/// codes), or, `mixed`, UTF-8 with some Windows-1252 bytes in it (valid UTF-8 sequences kept, any other byte
/// read as Windows-1252: what a person sees in a file edited by two programs).
public final class Windows1252ToUTF8Reader: ByteReader {
    /// Code points of 0x80…0x9F in Windows-1252 (the five bytes it leaves undefined map to themselves).
    static let high: [UInt32] = [
        0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D, 0x017D, 0x8F,
        0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
    ]
    private let inner: any ByteReader
    private let mixed: Bool
    private var chunks: ChunkedConversion

    public init(_ inner: any ByteReader, mixed: Bool = false, chunk: Int = 1 << 16) {
        self.inner = inner
        self.mixed = mixed
        chunks = ChunkedConversion(chunk: chunk)
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try chunks.read(into: buffer, from: inner) { [mixed] input, atEnd, output in Self.convert(input, mixed: mixed, atEnd: atEnd, into: &output) }
    }

    /// A whole sample at once (detection reads the same text the loader will).
    public static func transcode(_ bytes: [UInt8], mixed: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / 4)
        _ = convert(bytes, mixed: mixed, atEnd: true, into: &out)
        return out
    }

    /// Converts what it can; returns how many input bytes it used (short of the end only when a UTF-8 sequence
    /// may continue in the next chunk).
    static func convert(_ input: [UInt8], mixed: Bool, atEnd: Bool, into out: inout [UInt8]) -> Int {
        let n = input.count
        var i = 0
        while i < n {
            let b = input[i]
            if b < 0x80 {
                out.append(b)
                i += 1
                continue
            }
            if mixed {
                let length = b >= 0xF0 && b <= 0xF4 ? 4 : b >= 0xE0 ? 3 : b >= 0xC2 && b <= 0xDF ? 2 : 0
                if length > 0 {
                    if i + length > n, !atEnd, input[(i + 1)...].allSatisfy({ $0 & 0xC0 == 0x80 }) { return i }  // may continue
                    if i + length <= n {
                        let valid = input.withUnsafeBufferPointer { UTF8Validation.firstInvalidByte(UnsafeBufferPointer(rebasing: $0[i..<(i + length)])) == nil }
                        if valid {
                            out.append(contentsOf: input[i..<(i + length)])
                            i += length
                            continue
                        }
                    }
                }
            }
            let scalar = b < 0xA0 ? high[Int(b - 0x80)] : UInt32(b)
            if scalar < 0x800 {
                out.append(UInt8(0xC0 | (scalar >> 6)))
                out.append(UInt8(0x80 | (scalar & 0x3F)))
            } else {
                out.append(UInt8(0xE0 | (scalar >> 12)))
                out.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
                out.append(UInt8(0x80 | (scalar & 0x3F)))
            }
            i += 1
        }
        return n
    }
}

/// The buffering the streaming transcoders share: input read a chunk at a time, a character cut by a chunk's end
/// kept for the next chunk, converted output handed out as the caller asks for it.
struct ChunkedConversion {
    private var raw: [UInt8]
    private var pending: [UInt8] = []
    private var output: [UInt8] = []
    private var served = 0

    init(chunk: Int) { raw = [UInt8](repeating: 0, count: chunk) }

    /// `convert(input, atEnd, &output)` converts what it can and returns how many input bytes it used.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer, from inner: any ByteReader,
                       convert: ([UInt8], Bool, inout [UInt8]) -> Int) throws -> Int {
        while served == output.count {
            let n = try raw.withUnsafeMutableBytes { try inner.read(into: $0) }
            pending.append(contentsOf: raw[0..<n])
            output.removeAll(keepingCapacity: true)
            served = 0
            pending.removeFirst(convert(pending, n == 0, &output))
            if n == 0 && output.isEmpty { return 0 }
        }
        let count = min(buffer.count, output.count - served)
        output.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[served..<(served + count)])) }
        served += count
        return count
    }
}

/// Reads a whole (small) prefix of a reader into memory: the detection sample.
public func readPrefix(_ reader: any ByteReader, maxBytes: Int) throws -> (bytes: [UInt8], reachedEnd: Bool) {
    // Grown as the file turns out larger (64 KB, doubling): a 350-byte file must not cost an 8 MB buffer zeroed
    // (15 % of loading 10,000 small files).
    var out = [UInt8](repeating: 0, count: min(maxBytes, 64 << 10))
    var filled = 0
    while filled < maxBytes {
        if filled == out.count { out += [UInt8](repeating: 0, count: min(out.count, maxBytes - out.count)) }
        let n = try out.withUnsafeMutableBytes { try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled...])) }
        if n == 0 {
            out.removeSubrange(filled...)
            return (out, true)
        }
        filled += n
    }
    return (out, false)
}

/// A reader with nothing in it (the end of a replayed sample).
/// Everything a reader gives, to its end (a block or page decompressed whole).
public func readAll(_ reader: any ByteReader, sizeHint: Int = 0) throws -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(sizeHint)
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = try chunk.withUnsafeMutableBytes { try reader.read(into: $0) }
        if n == 0 { return out }
        out.append(contentsOf: chunk[0..<n])
    }
}

public final class EmptyReader: ByteReader {
    public init() {}
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { 0 }
}

/// Replays bytes already read (the detection sample), then continues with the rest of the stream.
public final class PrefixedReader: ByteReader {
    private let prefix: [UInt8]
    private var offset = 0
    private let rest: any ByteReader

    public init(prefix: [UInt8], rest: any ByteReader) {
        self.prefix = prefix
        self.rest = rest
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if offset < prefix.count {
            let n = min(buffer.count, prefix.count - offset)
            prefix.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: n) }
            offset += n
            return n
        }
        return try rest.read(into: buffer)
    }
}

/// Reads ahead on its own thread, so that whatever `inner` does per byte (hashing, decompression) runs
/// beside the parser instead of before it. At most `depth` chunks are in flight: memory stays bounded.
public final class ReadAheadReader: ByteReader, @unchecked Sendable {
    private let condition = NSCondition()
    private var chunks: [[UInt8]] = []
    private var finished = false
    private var failure: (any Error)?
    private var cancelled = false
    private var current: [UInt8] = []
    private var offset = 0
    private let depth: Int

    public init(_ inner: any ByteReader, chunkSize: Int = 1 << 20, depth: Int = 4) {
        self.depth = depth
        // The reader is handed over: from here on only the reading thread touches it.
        let inner = UncheckedBox(inner)
        let thread = Thread { [self] in
            while true {
                var chunk = [UInt8](repeating: 0, count: chunkSize)
                let n: Int
                do {
                    n = try chunk.withUnsafeMutableBytes { try inner.value.read(into: $0) }
                } catch {
                    condition.lock(); failure = error; finished = true; condition.broadcast(); condition.unlock()
                    return
                }
                condition.lock()
                if n == 0 || cancelled {
                    finished = true
                    condition.broadcast()
                    condition.unlock()
                    return
                }
                chunk.removeSubrange(n...)
                while chunks.count >= depth && !cancelled { condition.wait() }
                chunks.append(chunk)
                condition.broadcast()
                condition.unlock()
            }
        }
        thread.start()
    }

    deinit { cancel() }

    /// Stops the reading thread early (the consumer gave up).
    public func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if offset >= current.count {
            condition.lock()
            while chunks.isEmpty && !finished { condition.wait() }
            if chunks.isEmpty {
                let error = failure
                condition.unlock()
                if let error { throw error }
                return 0
            }
            current = chunks.removeFirst()
            offset = 0
            condition.broadcast()
            condition.unlock()
        }
        let n = min(buffer.count, current.count - offset)
        current.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: n) }
        offset += n
        return n
    }
}

/// Moves a non-Sendable value to another thread that becomes its only user.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Bytes in memory as a reader (tests, fuzzing).
public final class BytesReader: ByteReader, RandomAccessReader {
    private let bytes: [UInt8]
    private var offset = 0
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - offset)
        if n > 0 { bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: n) } }
        offset += n
        return n
    }

    public var size: Int64 { Int64(bytes.count) }

    public func read(at offset: Int64, count: Int) throws -> [UInt8] {
        guard offset >= 0, count >= 0, offset + Int64(count) <= Int64(bytes.count) else {
            throw AutoloaderError.badInput(SourceLocation(file: "(memory)"), reason: "read past the end")
        }
        return Array(bytes[Int(offset)..<(Int(offset) + count)])
    }
}

/// UTF-16 (with its byte-order mark) → UTF-8 on the fly, so everything after it sees UTF-8.
/// Unpaired surrogates become U+FFFD rather than stopping the load.
public final class UTF16ToUTF8Reader: ByteReader {
    private let inner: any ByteReader
    private let littleEndian: Bool
    private var raw = [UInt8](repeating: 0, count: 1 << 16)
    private var carry: [UInt8] = []          // an odd byte or a high surrogate waiting for its pair
    private var out: [UInt8] = []
    private var outPos = 0
    private var started = false
    private var eof = false

    public init(_ inner: any ByteReader, littleEndian: Bool) {
        self.inner = inner
        self.littleEndian = littleEndian
    }

    /// Transcodes a whole buffer (detection samples); a trailing odd byte is dropped.
    public static func transcode(_ bytes: [UInt8], littleEndian: Bool) -> [UInt8] {
        let reader = UTF16ToUTF8Reader(BytesReader(bytes), littleEndian: littleEndian)
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while let n = try? chunk.withUnsafeMutableBytes({ try reader.read(into: $0) }), n > 0 { result += chunk[0..<n] }
        return result
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while outPos >= out.count {
            if eof { return 0 }
            out.removeAll(keepingCapacity: true)
            outPos = 0
            let n = try raw.withUnsafeMutableBytes { try inner.read(into: $0) }
            if n == 0 { eof = true }
            var units = carry + raw[0..<n]
            carry = []
            if !started, units.count >= 2 {
                started = true
                if (littleEndian && units[0] == 0xFF && units[1] == 0xFE) || (!littleEndian && units[0] == 0xFE && units[1] == 0xFF) {
                    units.removeFirst(2)
                }
            }
            var i = 0
            while i + 1 < units.count {
                let u = littleEndian ? UInt32(units[i]) | UInt32(units[i + 1]) << 8 : UInt32(units[i]) << 8 | UInt32(units[i + 1])
                var scalar = u
                var used = 2
                if u >= 0xD800 && u < 0xDC00 {
                    if i + 3 >= units.count && !eof { break }  // wait for the low surrogate
                    if i + 3 < units.count {
                        let low = littleEndian ? UInt32(units[i + 2]) | UInt32(units[i + 3]) << 8 : UInt32(units[i + 2]) << 8 | UInt32(units[i + 3])
                        if low >= 0xDC00 && low < 0xE000 { scalar = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00); used = 4 } else { scalar = 0xFFFD }
                    } else {
                        scalar = 0xFFFD
                    }
                } else if u >= 0xDC00 && u < 0xE000 {
                    scalar = 0xFFFD
                }
                out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar) ?? "\u{FFFD}")).utf8))
                i += used
            }
            if i < units.count && !eof { carry = Array(units[i...]) }
        }
        let n = min(buffer.count, out.count - outPos)
        out.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + outPos, byteCount: n) }
        outPos += n
        return n
    }
}
