/// How a delimited text file is written. Detection produces it; the tokenizer and the loader consume it.
public struct Dialect: Codable, Sendable, Equatable {
    public enum LineEnding: String, Codable, Sendable { case lf = "LF", crlf = "CRLF", cr = "CR" }
    public enum Encoding: String, Codable, Sendable {
        case utf8 = "utf-8", utf8BOM = "utf-8-bom", latin1 = "latin-1", utf16LE = "utf-16le", utf16BE = "utf-16be"
        /// Western single-byte text with € ’ “ ” (bytes 0x80…0x9F), and UTF-8 with such bytes mixed in.
        case windows1252 = "windows-1252", utf8Mixed = "utf-8+windows-1252"

        /// Read through `Windows1252ToUTF8Reader` (mixed or not) before anything else sees the text.
        public var isWestern: Bool { self == .latin1 || self == .windows1252 || self == .utf8Mixed }
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
public enum FileFormat: String, Codable, Sendable { case csv, json, parquet, invalid }
public enum Compression: String, Codable, Sendable { case none, gzip, bzip2, zstd }
