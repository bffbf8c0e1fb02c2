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

/// Latin-1 → UTF-8 on the fly (each byte ≥ 0x80 becomes two bytes), so everything after it sees UTF-8.
public final class Latin1ToUTF8Reader: ByteReader {
    private let inner: any ByteReader
    private var raw: [UInt8]
    private var spill: [UInt8] = []

    public init(_ inner: any ByteReader, chunk: Int = 1 << 16) {
        self.inner = inner
        raw = [UInt8](repeating: 0, count: chunk)
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 1 else { return 0 }
        var written = 0
        while written < buffer.count, !spill.isEmpty {
            buffer[written] = spill.removeFirst()
            written += 1
        }
        if written > 0 { return written }
        let want = min(raw.count, buffer.count / 2)
        let n = try raw.withUnsafeMutableBytes { try inner.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<want])) }
        for i in 0..<n {
            let b = raw[i]
            if b < 0x80 {
                buffer[written] = b
                written += 1
            } else {
                buffer[written] = 0xC0 | (b >> 6)
                buffer[written + 1] = 0x80 | (b & 0x3F)
                written += 2
            }
        }
        return written
    }
}

/// Reads a whole (small) prefix of a reader into memory: the detection sample.
public func readPrefix(_ reader: any ByteReader, maxBytes: Int) throws -> (bytes: [UInt8], reachedEnd: Bool) {
    var out = [UInt8](repeating: 0, count: maxBytes)
    var filled = 0
    while filled < maxBytes {
        let n = try out.withUnsafeMutableBytes { try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled...])) }
        if n == 0 {
            out.removeSubrange(filled...)
            return (out, true)
        }
        filled += n
    }
    return (out, false)
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
