import AutoloaderCore
import AutoloaderFormats

/// Step 2: format of the (decompressed) content from its first bytes, never from the file name.
public enum FormatSniffer {
    /// Format of (decompressed) content. `nil` reason means it looks like data.
    public static func format(_ head: [UInt8]) -> (FileFormat, reason: String?) {
        if head.isEmpty { return (.invalid, "empty file (0 bytes)") }
        if head.count >= 4, head[0] == 0x50, head[1] == 0x41, head[2] == 0x52, head[3] == 0x31 { return (.parquet, nil) }  // "PAR1"
        var i = 0
        if head.count >= 3, head[0] == 0xEF, head[1] == 0xBB, head[2] == 0xBF { i = 3 }
        while i < head.count, head[i] == 0x20 || head[i] == 0x09 || head[i] == 0x0A || head[i] == 0x0D { i += 1 }
        if i < head.count, head[i] == UInt8(ascii: "{") || head[i] == UInt8(ascii: "[") { return (.json, nil) }
        if looksBinary(head) {
            let sample = head.prefix(8192)
            let control = sample.filter(isControl).count
            let first = sample.firstIndex(where: isControl) ?? 0
            let line = 1 + sample[..<first].filter { $0 == 0x0A }.count
            return (.invalid, "binary content, not text: \(control) control bytes in the first \(sample.count) (the first at line \(line), byte \(first))")
        }
        return (.csv, nil)
    }

    static func isControl(_ b: UInt8) -> Bool { b < 0x20 && b != 0x09 && b != 0x0A && b != 0x0D && b != 0x0C }

    /// More than 5% control bytes other than tab/CR/LF/FF (NUL included) mean binary (UTF-16 is caught by its BOM
    /// first). A stray NUL in text is not binary: its row is a located error when loaded.
    static func looksBinary(_ head: [UInt8]) -> Bool {
        let sample = head.prefix(8192)
        var control = 0
        for b in sample where isControl(b) { control += 1 }
        if control * 20 > sample.count { return true }
        // Random bytes are rarely valid UTF-8 and rarely Latin-1 text: many bytes in 0x80–0x9F (C1 controls).
        let c1 = sample.filter { $0 >= 0x80 && $0 <= 0x9F }.count
        return sample.withUnsafeBufferPointer { UTF8Validation.firstInvalidByte($0, allowTruncatedEnd: true) } != nil && c1 * 20 > sample.count
    }
}

/// Step 2: text encoding. UTF-8 (with or without BOM); Latin-1 when the bytes are not UTF-8 and hold no
/// UTF-8 multi-byte sequence; otherwise a located error (a UTF-8 file with a stray byte is broken, not Latin-1).
public enum EncodingSniffer {
    public enum Verdict: Equatable {
        case encoding(Dialect.Encoding)
        case invalid(line: Int, byteOffset: Int)
    }

    public static func sniff(_ bytes: [UInt8], complete: Bool) -> Verdict {
        let bom = bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF
        return bytes.withUnsafeBufferPointer { buf -> Verdict in
            guard let bad = UTF8Validation.firstInvalidByte(buf, allowTruncatedEnd: !complete) else {
                return .encoding(bom ? .utf8BOM : .utf8)
            }
            if !bom && !UTF8Validation.containsMultibyteSequence(buf) { return .encoding(.latin1) }
            let line = 1 + buf[0..<bad].reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
            return .invalid(line: line, byteOffset: bad)
        }
    }

    /// The sample as UTF-8 without BOM (what the dialect and type steps read).
    public static func decode(_ bytes: [UInt8], as encoding: Dialect.Encoding) -> [UInt8] {
        switch encoding {
        case .utf8, .utf16LE, .utf16BE: return bytes
        case .utf8BOM: return Array(bytes.dropFirst(3))
        case .latin1:
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count + bytes.count / 8)
            for b in bytes {
                if b < 0x80 { out.append(b) } else { out.append(0xC0 | (b >> 6)); out.append(0x80 | (b & 0x3F)) }
            }
            return out
        }
    }
}
