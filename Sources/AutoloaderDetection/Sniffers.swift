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
        // Random bytes are rarely valid UTF-8, and a quarter of them in 0x80–0x9F is not Windows-1252 text either
        // (whose € ’ “ ” live there, a few per line at most).
        // Shift-JIS and GB18030 lead bytes live there too: text in one of them is not binary.
        let c1 = sample.filter { $0 >= 0x80 && $0 <= 0x9F }.count
        return sample.withUnsafeBufferPointer { UTF8Validation.firstInvalidByte($0, allowTruncatedEnd: true) } != nil && c1 * 4 > sample.count
            && EncodingSniffer.eastAsian(Array(sample)) == nil
    }
}

/// Step 2: text encoding. UTF-8 (with or without BOM); East Asian multi-byte text (Shift-JIS, EUC-JP, EUC-KR,
/// GB18030, Big5) where one decodes the sample to that language's characters; Latin-1 or Windows-1252 when the
/// bytes are not UTF-8 and hold no UTF-8 multi-byte sequence; UTF-8 with Windows-1252 bytes mixed in otherwise.
public enum EncodingSniffer {
    public static func sniff(_ bytes: [UInt8], complete: Bool) -> Dialect.Encoding {
        let bom = bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF
        return bytes.withUnsafeBufferPointer { buf -> Dialect.Encoding in
            guard UTF8Validation.firstInvalidByte(buf, allowTruncatedEnd: !complete) != nil else {
                return bom ? .utf8BOM : .utf8
            }
            // Not UTF-8, as a person would read it: UTF-8 with stray single bytes is two programs' work (the
            // strays are Windows-1252); without any UTF-8 sequence it is Western single-byte text — Latin-1 where
            // the two agree, Windows-1252 where bytes 0x80…0x9F (€ ’ “ ”) say so.
            if !bom, let eastAsian = eastAsian(bytes) { return eastAsian }
            if bom || UTF8Validation.containsMultibyteSequence(buf) { return .utf8Mixed }
            return buf.contains { $0 >= 0x80 && $0 < 0xA0 } ? .windows1252 : .latin1
        }
    }

    /// A multi-byte East Asian encoding, decided as a reader of the language would: the first (in the order
    /// below) that decodes the whole sample, and decodes it to that language's characters — Japanese with kana,
    /// Korean mostly Hangul, Chinese ideographs without either. Western text with a few high bytes never
    /// qualifies (too few of them, and what they decode to is not a language).
    static func eastAsian(_ bytes: [UInt8]) -> Dialect.Encoding? {
        let sample = Array(bytes.prefix(1 << 16))
        let high = sample.filter { $0 >= 0x80 }.count
        guard high >= 8, high * 10 >= sample.count else { return nil }
        for encoding in [Dialect.Encoding.shiftJIS, .eucJP, .eucKR, .gb18030, .big5] {
            guard let name = encoding.iconvName, let text = IconvToUTF8Reader.decodeStrictly(sample, from: name) else { continue }
            var other = 0, kana = 0, hangul = 0, ideographs = 0
            for scalar in String(decoding: text, as: UTF8.self).unicodeScalars where scalar.value >= 0x80 {
                switch scalar.value {
                case 0x3040...0x30FF: kana += 1
                case 0xFF61...0xFF9F: break  // half-width katakana: Japanese, but also what Chinese bytes read as in Shift-JIS
                case 0xAC00...0xD7AF: hangul += 1
                case 0x4E00...0x9FFF: ideographs += 1
                case 0x3000...0x303F, 0xFF01...0xFF60: break  // CJK punctuation and full-width forms: any of them
                default: other += 1
                }
            }
            let total = other + kana + hangul + ideographs
            guard total >= 4, other * 10 <= total else { continue }
            switch encoding {
            case .shiftJIS, .eucJP: if kana * 10 >= total && hangul == 0 { return encoding }
            case .eucKR: if hangul * 10 >= total * 6 { return encoding }
            default: if kana == 0 && hangul == 0 { return encoding }
            }
        }
        return nil
    }

    /// UTF-16 without a byte-order mark, told by its NULs: text that is mostly ASCII has a NUL in (nearly) every
    /// high byte — odd offsets for little-endian, even for big-endian — and (nearly) none in the other.
    public static func utf16WithoutBOM(_ bytes: [UInt8]) -> Dialect.Encoding? {
        let sample = bytes.prefix(4096)
        let pairs = sample.count / 2
        guard pairs >= 4 else { return nil }
        var evenNUL = 0, oddNUL = 0
        for (i, b) in sample.enumerated() where b == 0 { if i % 2 == 0 { evenNUL += 1 } else { oddNUL += 1 } }
        if oddNUL * 10 >= pairs * 7, evenNUL * 20 <= pairs { return .utf16LE }
        if evenNUL * 10 >= pairs * 7, oddNUL * 20 <= pairs { return .utf16BE }
        return nil
    }

    /// The sample as UTF-8 without BOM (what the dialect and type steps read).
    public static func decode(_ bytes: [UInt8], as encoding: Dialect.Encoding) -> [UInt8] {
        switch encoding {
        case .utf8, .utf16LE, .utf16BE: return bytes
        case .utf8BOM: return Array(bytes.dropFirst(3))
        case .latin1, .windows1252: return Windows1252ToUTF8Reader.transcode(bytes, mixed: false)
        case .utf8Mixed: return Windows1252ToUTF8Reader.transcode(bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(bytes.dropFirst(3)) : bytes, mixed: true)
        case .shiftJIS, .eucJP, .eucKR, .gb18030, .big5:
            // A sample cut mid-character decodes up to that character (strictly it was valid to there).
            return IconvToUTF8Reader.decodeStrictly(bytes, from: encoding.iconvName ?? "") ?? []
        }
    }
}
