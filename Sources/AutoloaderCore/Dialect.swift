/// How a delimited text file is written. Detection produces it; the tokenizer and the loader consume it.
public struct Dialect: Codable, Sendable, Equatable {
    public enum LineEnding: String, Codable, Sendable { case lf = "LF", crlf = "CRLF", cr = "CR" }
    public enum Encoding: String, Codable, Sendable {
        case utf8 = "utf-8", utf8BOM = "utf-8-bom", latin1 = "latin-1", utf16LE = "utf-16le", utf16BE = "utf-16be"
        /// Western single-byte text with € ’ “ ” (bytes 0x80…0x9F), and UTF-8 with such bytes mixed in.
        case windows1252 = "windows-1252", utf8Mixed = "utf-8+windows-1252"
        /// East Asian multi-byte encodings, told apart by validity and the characters they decode to.
        case shiftJIS = "shift_jis", eucJP = "euc-jp", eucKR = "euc-kr", gb18030 = "gb18030", big5 = "big5"

        /// The C library's name for a multi-byte encoding read through iconv.
        public var iconvName: String? {
            switch self {
            case .shiftJIS: return "CP932"  // Windows' Shift-JIS, a superset of the standard's
            case .eucJP: return "EUC-JP"
            case .eucKR: return "EUC-KR"
            case .gb18030: return "GB18030"
            case .big5: return "BIG5"
            default: return nil
            }
        }

        /// UTF-8 or UTF-16: what JSON may be, and what Redshift's COPY reads as it is (other text is rewritten).
        public var isUnicode: Bool { [.utf8, .utf8BOM, .utf16LE, .utf16BE].contains(self) }
    }

    public var delimiter: UInt8
    /// nil: fields are never quoted.
    public var quote: UInt8?
    /// nil: a quote inside a quoted field is doubled (RFC 4180); else the escape byte (usually `\`).
    public var escape: UInt8?
    public var header: Bool
    /// Physical lines (titles, comments) before the header or first record.
    public var skipLines: Int
    public var lineEnding: LineEnding
    public var trailingDelimiter: Bool
    public var encoding: Encoding

    public init(delimiter: UInt8 = UInt8(ascii: ","), quote: UInt8? = UInt8(ascii: "\""), escape: UInt8? = nil,
                header: Bool = true, skipLines: Int = 0, lineEnding: LineEnding = .lf,
                trailingDelimiter: Bool = false, encoding: Encoding = .utf8) {
        self.delimiter = delimiter
        self.quote = quote
        self.escape = escape
        self.header = header
        self.skipLines = skipLines
        self.lineEnding = lineEnding
        self.trailingDelimiter = trailingDelimiter
        self.encoding = encoding
    }

    public var delimiterName: String {
        switch delimiter {
        case UInt8(ascii: "\t"): return "\\t"
        default: return String(UnicodeScalar(delimiter))
        }
    }
}

/// The file formats the loader knows. Only CSV is loaded so far; the others are recognised and refused clearly.
public enum FileFormat: String, Codable, Sendable { case csv, json, parquet, avro, invalid }
public enum Compression: String, Codable, Sendable { case none, gzip, bzip2, zstd }
