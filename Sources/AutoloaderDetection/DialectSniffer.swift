import AutoloaderCore
import AutoloaderFormats

/// Step 3: delimiter, quote and escape, scored like DuckDB's and CleverCSV's sniffers: each candidate
/// splits the sample, and the one whose records agree most on a field count wins. Scores are kept as evidence.
public enum DialectSniffer {
    /// The candidate set, in order of preference for ties.
    public static let standardDelimiters: [UInt8] = [",", "\t", "|", ";", ":", "^"].map { UInt8(ascii: $0) }
    static let quoteCandidates: [UInt8?] = [UInt8(ascii: "\""), UInt8(ascii: "'"), nil]
    static let maxRecords = 2000

    public struct Candidate: Codable, Sendable, Equatable {
        public var delimiter: String
        public var quote: String?
        public var escape: String?
        public var columns: Int
        public var consistentRows: Int
        public var inconsistentRows: Int
        public var skipLines: Int
        public var score: Int { consistentRows - inconsistentRows }
    }

    public struct Result: Sendable {
        public var dialect: Dialect
        public var columns: Int
        public var quoteObserved: Bool
        public var candidates: [Candidate]
        /// The first record is a header with one field more than the data (`id,name,amount,`): its first
        /// `columns` fields name the columns.
        public var headerExtraField = false
    }

    /// Splits the sample with one dialect: field counts, first lines and quoting of each record.
    struct Split {
        var counts: [Int] = []
        var lines: [Int] = []
        var lastFieldEmpty: [Bool] = []
        /// Fields with something in them, per record.
        var filled: [Int] = []
        /// At most one field filled, and it is words, not a number: how a title line padded to the table's width
        /// looks (a sparse data row holds a number).
        var titleLike: [Bool] = []
        /// No filled field is a number: a record that may name columns.
        var wordy: [Bool] = []
        /// Unquoted cells that still hold another delimiter (`,` `;` `|` tab): values this reading did not separate.
        /// Of two readings equally consistent, the one whose cells are whole values wins (CleverCSV's type score, in
        /// its simplest form).
        var unsplitCells = 0
        var anyQuoted = false
    }

    static func split(_ sample: UnsafeBufferPointer<UInt8>, dialect: Dialect, complete: Bool, limit: Int) -> Split {
        var tokenizer = CSVTokenizer(dialect: dialect)
        var out = Split()
        var pos = 0
        var line = 1
        guard let base = sample.baseAddress else { return out }
        while pos < sample.count && out.counts.count < limit {
            guard let r = tokenizer.parseRecord(base, from: pos, to: sample.count, atEOF: complete) else { break }
            let n = tokenizer.fieldCount
            let blank = n == 1 && tokenizer.starts[0] == tokenizer.ends[0] && tokenizer.flags[0] == 0
            if !blank {
                out.counts.append(n)
                out.lines.append(line)
                out.lastFieldEmpty.append(tokenizer.starts[n - 1] == tokenizer.ends[n - 1] && tokenizer.flags[n - 1] == 0)
                let filled = (0..<n).filter { tokenizer.starts[$0] != tokenizer.ends[$0] }
                out.filled.append(filled.count)
                let words = filled.allSatisfy { k in
                    Values.numberShape(UnsafeBufferPointer(start: base + tokenizer.starts[k], count: tokenizer.ends[k] - tokenizer.starts[k])) == nil
                }
                out.titleLike.append(filled.count <= 1 && words)
                out.wordy.append(words)
                for k in 0..<n {
                    if tokenizer.flags[k] & CSVTokenizer.quotedFlag != 0 {
                        out.anyQuoted = true
                    } else if holdsADelimiter(UnsafeBufferPointer(start: base + tokenizer.starts[k], count: tokenizer.ends[k] - tokenizer.starts[k])) {
                        out.unsplitCells += 1
                    }
                }
            }
            line += 1 + r.embeddedNewlines
            pos = r.next
        }
        return out
    }

    /// `,` `;` `|` or tab in a value, but not a decimal comma (`1,5`, `1,000`): a number is a whole value.
    static func holdsADelimiter(_ cell: UnsafeBufferPointer<UInt8>) -> Bool {
        func isDigit(_ i: Int) -> Bool { i >= 0 && i < cell.count && cell[i] >= 0x30 && cell[i] <= 0x39 }
        for i in 0..<cell.count {
            switch cell[i] {
            case UInt8(ascii: ","): if !(isDigit(i - 1) && isDigit(i + 1)) { return true }
            case UInt8(ascii: ";"), UInt8(ascii: "|"), 0x09: return true
            default: break
            }
        }
        return false
    }

    public static func sniff(_ sample: [UInt8], complete: Bool, encoding: Dialect.Encoding, forcedDelimiter: UInt8? = nil) -> Result {
        var delimiters = forcedDelimiter.map { [$0] } ?? standardDelimiters
        if forcedDelimiter == nil {
            // Any other punctuation on the first line that is not a comment may be the delimiter too ("any that
            // splits rows consistently").
            let firstLine = sample.split(separator: 0x0A, maxSplits: 64, omittingEmptySubsequences: true)
                .first { $0.first != UInt8(ascii: "#") } ?? sample[...]
            for b in firstLine.prefix(while: { $0 != 0x0D }).prefix(4096)
            where b < 0x80 && !delimiters.contains(b) && isPunctuation(b) && delimiters.count < 16 {
                delimiters.append(b)
            }
            // A character that sits inside values is not what separates them: `:` in times and URLs, `#` opening
            // comment lines or in number formats (`##0`).
            delimiters.removeAll { isInsideValues($0, sample) }
        }
        // Only what the sample holds can change a reading: a delimiter, quote or escape it lacks reads as `,`, no
        // quote, no escape would (`,` stays, the reading of a one-column file). Same answers, far fewer splits for
        // the small files that come by the thousand.
        var present = [Bool](repeating: false, count: 256)
        for b in sample { present[Int(b)] = true }
        if forcedDelimiter == nil { delimiters.removeAll { $0 != UInt8(ascii: ",") && !present[Int($0)] } }
        let quotes = quoteCandidates.filter { q in q.map { present[Int($0)] } ?? true }
        let escapes: [UInt8?] = present[Int(UInt8(ascii: "\\"))] ? [nil, UInt8(ascii: "\\")] : [nil]
        var best: (rank: (Int, Int, Int, Int), dialect: Dialect, columns: Int, quoted: Bool)?
        var evidence: [Candidate] = []
        sample.withUnsafeBufferPointer { buf in
            for (order, delimiter) in delimiters.enumerated() {
                for quote in quotes {
                    if quote == delimiter { continue }
                    let qOrder = quoteCandidates.firstIndex(of: quote) ?? 0
                    for escape in escapes {
                        let dialect = Dialect(delimiter: delimiter, quote: quote, escape: escape, encoding: encoding)
                        let s = split(buf, dialect: dialect, complete: complete, limit: maxRecords)
                        guard let (columns, skip, consistent, inconsistent) = consistency(s) else { continue }
                        let candidate = Candidate(delimiter: dialect.delimiterName, quote: quote.map { String(UnicodeScalar($0)) },
                                                  escape: escape.map { String(UnicodeScalar($0)) }, columns: columns,
                                                  consistentRows: consistent, inconsistentRows: inconsistent,
                                                  skipLines: skip)
                        // A quote or escape that changes nothing is not evidence for it: prefer the plainer reading.
                        let plainness = -(qOrder * 2 + (escape == nil ? 0 : 1))
                        let effective = columns >= 2 ? candidate.score : (forcedDelimiter != nil ? candidate.score : -1_000_000 + candidate.score)
                        let rank = (effective, -s.unsplitCells, columns, -order * 10 + plainness)
                        if best == nil || rank > best!.rank {
                            var d = dialect
                            d.skipLines = skip
                            best = (rank, d, columns, s.anyQuoted)
                        }
                        if escape == nil && (quote == UInt8(ascii: "\"") || quote == nil) && columns >= 2 { evidence.append(candidate) }
                    }
                }
            }
        }
        guard var chosen = best else {
            return Result(dialect: Dialect(encoding: encoding), columns: 1, quoteObserved: false, candidates: evidence)
        }
        var dialect = chosen.dialect
        // Trailing delimiter: every record ends with an empty, unquoted field.
        let s = sample.withUnsafeBufferPointer { split($0, dialect: dialect, complete: complete, limit: maxRecords) }
        var skipRecords = s.lines.firstIndex { $0 > dialect.skipLines } ?? s.lines.count
        // Titles padded to the table's width (`Meetings,,,,,,`) have the data's field count but name one column
        // at most: they are title lines, not the header, when a fuller record follows within a few lines.
        if chosen.columns >= 3, let fuller = s.filled.indices.dropFirst(skipRecords).prefix(10).first(where: { s.filled[$0] >= 2 }),
           fuller > skipRecords, s.titleLike[skipRecords..<fuller].allSatisfy({ $0 }) {
            skipRecords = fuller
            dialect.skipLines = s.lines[fuller] - 1
        }
        // A header with one field more than the data (a trailing delimiter on the header only, or a last name whose
        // column the writer left off): the record just before the data, as full as the data and naming rather than
        // counting, is the header, not a title line to skip.
        var headerExtraField = false
        if chosen.columns >= 2, skipRecords > 0, s.counts[skipRecords - 1] == chosen.columns + 1,
           s.filled[skipRecords - 1] >= chosen.columns, s.wordy[skipRecords - 1] {
            skipRecords -= 1
            dialect.skipLines = s.lines[skipRecords] - 1
            headerExtraField = true
        }
        let body = skipRecords..<s.counts.count
        if chosen.columns >= 2, !body.isEmpty, body.allSatisfy({ s.counts[$0] != chosen.columns || s.lastFieldEmpty[$0] }) {
            dialect.trailingDelimiter = true
            chosen.columns -= 1
        }
        dialect.lineEnding = lineEnding(sample)
        // No field was quoted: the reading that won is the one without quotes. Report the usual `"` when the
        // sample has none (it changes nothing), and no quote when it has one (an inch mark, a stray quote):
        // quoting would then read other rows than the ones that won, and every row could fail.
        // An escape that won did so outside quotes (`a\,b`): it stays (a plainer reading would have tied and won).
        if !chosen.quoted {
            dialect.quote = sample.contains(UInt8(ascii: "\"")) ? nil : UInt8(ascii: "\"")
        }
        evidence.sort { ($0.score, $0.columns) > ($1.score, $1.columns) }
        return Result(dialect: dialect, columns: chosen.columns, quoteObserved: chosen.quoted, candidates: Array(evidence.prefix(6)),
                      headerExtraField: headerExtraField)
    }

    /// Modal field count, physical lines to skip before the first record having it, and how many records after
    /// that have it or not. When two counts are equally common, the larger wins.
    static func consistency(_ s: Split) -> (columns: Int, skipLines: Int, consistent: Int, inconsistent: Int)? {
        guard !s.counts.isEmpty else { return nil }
        var freq: [Int: Int] = [:]
        for c in s.counts { freq[c, default: 0] += 1 }
        guard let mode = freq.max(by: { ($0.value, $0.key) < ($1.value, $1.key) })?.key else { return nil }
        guard let first = s.counts.firstIndex(of: mode) else { return nil }
        let rest = s.counts[first...]
        let consistent = rest.filter { $0 == mode }.count
        return (mode, s.lines[first] - 1, consistent, rest.count - consistent)
    }

    /// Whether most (≥ 80 %) of `delimiter`'s occurrences in the sample's first 64 KB are parts of values: `:`
    /// between two digits (`12:30`) or before `//` (`https://`), `#` at the start of a line (a comment) or next
    /// to another `#` (`##0.00`). Other characters never are.
    static func isInsideValues(_ delimiter: UInt8, _ sample: [UInt8]) -> Bool {
        guard delimiter == UInt8(ascii: ":") || delimiter == UInt8(ascii: "#") else { return false }
        let bytes = sample.prefix(1 << 16)
        var total = 0, inside = 0
        func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
        for i in bytes.indices where bytes[i] == delimiter {
            total += 1
            let previous: UInt8? = i > bytes.startIndex ? bytes[i - 1] : nil
            let next: UInt8? = i + 1 < bytes.endIndex ? bytes[i + 1] : nil
            if delimiter == UInt8(ascii: ":") {
                let url = next == UInt8(ascii: "/") && i + 2 < bytes.endIndex && bytes[i + 2] == UInt8(ascii: "/")
                if url || (previous.map(isDigit) == true && next.map(isDigit) == true) { inside += 1 }
            } else if previous == nil || previous == 0x0A || previous == 0x0D || previous == delimiter || next == delimiter {
                inside += 1
            }
        }
        return total > 0 && inside * 5 >= total * 4
    }

    static func lineEnding(_ sample: [UInt8]) -> Dialect.LineEnding {
        var inQuote = false
        for (i, b) in sample.enumerated() {
            if b == UInt8(ascii: "\"") { inQuote.toggle() }
            if inQuote { continue }
            if b == 0x0A { return .lf }
            if b == 0x0D { return i + 1 < sample.count && sample[i + 1] == 0x0A ? .crlf : .cr }
        }
        return .lf
    }

    static func isPunctuation(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "*"),
             UInt8(ascii: "~"), UInt8(ascii: "@"), UInt8(ascii: "`"), 0x1F, 0x1E, 0x01: return true
        default: return false
        }
    }
}
