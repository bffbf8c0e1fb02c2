import AutoloaderCore
import AutoloaderFormats
import Foundation
import Testing
@testable import AutoloaderDetection

/// Issue 12's failure categories, each with files made here (the public sniffing corpora are the held-out
/// measure and stay out of the repository).
@Suite struct MessyFilesTests {
    func detect(_ text: String) -> Detection {
        Detector.detect(sample: Array(text.utf8), complete: true, compression: .none, name: "t.csv", options: .init())
    }

    func types(_ d: Detection) -> [String] { (d.columns ?? []).map { "\($0.name):\($0.type)" } }

    /// A person's "no value" in a number column: `?`, `-`, `NR`, blanks. The column stays a number, nullable.
    @Test func humanNullSpellingsKeepANumberColumnANumber() {
        let d = detect("id,score,rank,weight\n1,10,3,1.5\n2,?,-,  \n3,NR,4,2.25\n4,12, ,\n")
        #expect(types(d) == ["id:smallint", "score:smallint", "rank:smallint", "weight:decimal"], "\(types(d))")
        #expect(d.columns?.allSatisfy { $0.name == "id" || $0.nullable } == true)
        // In a text column the same spellings are values.
        let text = detect("id,note\n1,-\n2,?\n3,fine\n")
        #expect(types(text) == ["id:smallint", "note:varchar"])
    }

    /// Writers drop a zero fraction (Python's isoformat, Spark): with and without one, a column is still a time.
    @Test func aFractionThatIsSometimesAbsentKeepsTheTemporalType() {
        let d = detect("""
            id,clock,seen,zoned
            1,10:00:00,2024-01-31 10:00:00,2024-01-31T10:00:00Z
            2,10:00:00.25,2024-01-31 10:00:00.123456,2024-01-31T10:00:00.5+02:00
            3,23:59:59,2024-02-29 23:59:59,2024-02-29T23:59:59-08:00

            """)
        #expect(types(d) == ["id:smallint", "clock:time", "seen:timestamp", "zoned:timestamptz"], "\(types(d))")
        // A point with no digits after it is still not a time.
        #expect(types(detect("id,clock\n1,10:00:00.\n2,10:00:01\n")) == ["id:smallint", "clock:varchar"])
    }

    /// Yes/No is a boolean; a column that only ever says `y` is a mark, not a truth value.
    @Test func yesNoIsBooleanALoneLetterIsNot() {
        #expect(types(detect("id,active\n1,Yes\n2,No\n3,yes\n")) == ["id:smallint", "active:boolean"])
        #expect(types(detect("id,flag\n1,y\n2,y\n3,y\n")) == ["id:smallint", "flag:varchar"])
        #expect(types(detect("id,flag\n1,Y\n2,N\n3,Y\n")) == ["id:smallint", "flag:boolean"])
        #expect(types(detect("id,done\n1,true\n2,true\n")) == ["id:smallint", "done:boolean"])
    }

    /// A first row of numbers and dates is data: a two-line file whose only row is data loads both lines
    /// (it used to load 0 rows with exit 0, its first line taken as the header).
    @Test func aFirstRowOfNumbersIsData() {
        let d = detect("4,Di,1.25,2024-04-05\n5,Ed,2,2024-05-06\n")
        #expect(d.header == false && d.rows == 2, "\(d.header ?? true) \(d.rows ?? 0)")
        let named = detect("id,name,amount,day\n5,Ed,2,2024-05-06\n")
        #expect(named.header == true && named.rows == 1)
    }

    /// `:` inside times and URLs is not a delimiter: a one-column file stays one column, and a comma file with
    /// times is split by its commas.
    @Test func aColonInsideValuesIsNotTheDelimiter() {
        let times = detect("departure\n08:15\n09:30\n12:45\n17:05\n")
        #expect(d(times) == "1 col", "\(d(times))")
        let links = detect("link\nhttps://example.org/a\nhttps://example.org/b\nhttp://example.com/c\n")
        #expect(d(links) == "1 col", "\(d(links))")
        let spaced = detect("start, end, room\n08:15, 09:30, A1\n10:00, 11:45, B2\n13:30, 14:00, C3\n")
        #expect(d(spaced) == "',' 3 cols", "\(d(spaced))")
        // A real colon-separated file (no times in it) is still read as one.
        let passwd = detect("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nbin:x:2:2:bin:/bin:/usr/sbin/nologin\n")
        #expect(d(passwd) == "':' 7 cols", "\(d(passwd))")
    }

    /// Lines starting with `#` are comments before the data, not `#`-separated rows; `##0.00` is a number format.
    @Test func hashCommentsAndNumberFormatsAreNotDelimiters() {
        let preamble = detect("# exported by a tool\n# 2024-05-01\nid,name\n1,a\n2,b\n3,c\n")
        #expect(d(preamble) == "',' 2 cols" && preamble.skipLines == 2 && preamble.header == true, "\(d(preamble)) \(preamble.skipLines ?? -1)")
        let formats = detect("format\n##0.00\n#,##0\n###\n0.0#\n")
        #expect(d(formats) == "1 col", "\(d(formats))")
    }

    func d(_ detection: Detection) -> String {
        let n = detection.columns?.count ?? 0
        return n == 1 ? "1 col" : "'\(detection.delimiter ?? "?")' \(n) cols"
    }

    /// Encodings as a person decides them: Windows-1252 where its € ’ “ ” bytes say so (Latin-1 where the two
    /// agree), UTF-8 with such bytes mixed in, UTF-16 without a byte-order mark by its NULs.
    @Test func encodingsAreDecidedAsAPersonWould() {
        func detectBytes(_ bytes: [UInt8]) -> Detection {
            Detector.detect(sample: bytes, complete: true, compression: .none, name: "t.csv", options: .init())
        }
        let cp1252 = detectBytes(Array("id,quote\n1,".utf8) + [0x93, 0x48, 0x69, 0x94] + Array("\n2,".utf8) + [0x80, 0x35] + Array("\n".utf8))
        #expect(cp1252.encoding == "windows-1252" && cp1252.columns?.count == 2, "\(cp1252.encoding ?? "") \(cp1252.error ?? "")")
        let latin = detectBytes(Array("id,city\n1,M".utf8) + [0xFC] + Array("nchen\n".utf8))
        #expect(latin.encoding == "latin-1")
        let mixed = detectBytes(Array("id,name\n1,café\n2,".utf8) + [0x96] + Array("\n".utf8))
        #expect(mixed.encoding == "utf-8+windows-1252" && mixed.error == nil, "\(mixed.error ?? "")")
        let text = "id,name\n1,alpha\n2,beta\n"
        let le = text.unicodeScalars.flatMap { [UInt8($0.value & 0xFF), UInt8($0.value >> 8)] }
        let be = text.unicodeScalars.flatMap { [UInt8($0.value >> 8), UInt8($0.value & 0xFF)] }
        for (bytes, name) in [(le, "utf-16le"), (be, "utf-16be")] {
            let d = detectBytes(bytes)
            #expect(d.encoding == name && d.columns?.map(\.name) == ["id", "name"] && d.rows == 2, "\(name): \(d.error ?? "") \(d.encoding ?? "")")
        }
    }

    /// Title lines padded with delimiters to the data's width (as spreadsheets export them) are skipped, and the
    /// real header names the columns.
    @Test func paddedTitleLinesAreSkipped() {
        let d = detect("Meetings,,,\nBoard of Works,,,\nid,date,room,topic\n1,2024-01-02,A,budget\n2,2024-01-09,B,roads\n")
        #expect(d.skipLines == 2 && d.header == true, "\(d.skipLines ?? -1) \(d.header ?? false)")
        #expect(d.columns?.map(\.name) == ["id", "date", "room", "topic"] && d.rows == 2)
        // A sparse data row after the header is data.
        let sparse = detect("a,b,c,d\n1,,,\n2,x,y,z\n")
        #expect(sparse.skipLines == 0 && sparse.rows == 2)
        let headerless = detect("1,,\n2,,\n3,x,y\n")
        #expect(headerless.skipLines == 0 && headerless.rows == 3, "\(headerless.skipLines ?? -1) \(headerless.rows ?? -1)")
    }

    /// A header with one field more than the data (a trailing delimiter on the header only, or a last name the
    /// writer left without values) names the columns; it was skipped as a title line and the columns became
    /// column1…N.
    @Test func aHeaderWithOneFieldTooManyIsTheHeader() {
        for text in ["id,name,amount,\n1,a,2.5\n2,b,3.5\n3,c,4\n", "id,name,amount,note\n1,a,2.5\n2,b,3.5\n3,c,4\n",
                     "Report\nid;name;amount;note\n1;a;2.5\n2;b;3.5\n"] {
            let d = detect(text)
            #expect(d.header == true && d.columns?.map(\.name) == ["id", "name", "amount"], "\(text): \(d.columns?.map(\.name) ?? [])")
            #expect(d.columns?.first?.type == "smallint" && (d.badRows ?? []).isEmpty)
        }
        // A first record of numbers with one field more is a bad row, not a header.
        let data = detect("9,9,9,9\n1,2,3\n4,5,6\n7,8,9\n")
        #expect(data.header == false && data.columns?.map(\.name) == ["column1", "column2", "column3"])
    }

    /// Of two readings that split every record alike, the one whose cells are whole values wins: decimal commas
    /// under `;` (the comma reading had one column more, and won).
    @Test func cellsThatAreWholeValuesDecideBetweenEqualReadings() {
        let euro = detect("1,5;2,25\n3,5;4,75\n5,0;6,5\n7,5;8,0\n")
        #expect(euro.delimiter == ";" && euro.columns?.count == 2, "\(euro.delimiter ?? "-")")
    }

    /// The dialect reported is the one that won: a file read best without quotes (a stray `"` opens a field and
    /// would swallow the rest) is reported without quotes, so its rows load as they were counted.
    @Test func theReportedDialectIsTheOneThatWon() {
        var text = "id,size,label\n"
        for i in 1...12 { text += i == 3 ? "3,\"big,x\n" : "\(i),\(i)\",screen \(i)\n" }
        let d = detect(text)
        #expect(d.quote == nil && d.columns?.count == 3 && d.rows == 12 && (d.badRows ?? []).isEmpty, "\(d.quote ?? "-") \(d.rows ?? -1) \(d.badRows ?? [])")
    }

    /// Shift-JIS, EUC-KR and GB18030 are told apart by what they decode to (used to be refused as binary), and
    /// decoded; Western text with a few accented bytes stays Windows-1252/Latin-1.
    @Test func eastAsianEncodingsAreDecided() throws {
        func detectBytes(_ bytes: [UInt8]) -> Detection {
            Detector.detect(sample: bytes, complete: true, compression: .none, name: "t.csv", options: .init())
        }
        let cases: [(String, String, String)] = [
            ("CP932", "shift_jis", "id,名前,都市\n1,やまだ たろう,東京\n2,すずき はなこ,大阪\n3,さとう けん,名古屋\n"),
            ("EUC-KR", "euc-kr", "id,이름,도시\n1,김철수,서울\n2,이영희,부산\n3,박지민,대구\n"),
            ("GB18030", "gb18030", "id,名称,城市\n1,张伟,北京\n2,王芳,上海\n3,李娜,广州\n"),
        ]
        for (iconv, name, text) in cases {
            let bytes = try #require(IconvToUTF8Reader.decodeStrictly(Array(text.utf8), from: "UTF-8", to: iconv))
            let d = detectBytes(bytes)
            #expect(d.encoding == name && d.error == nil && d.rows == 3, "\(name): \(d.encoding ?? "-") \(d.error ?? "")")
            #expect(d.columns?.map(\.name) == text.split(separator: "\n").first.map { $0.split(separator: ",").map(String.init) }, "\(name)")
        }
        let western = detectBytes(Array("id,city\n1,M".utf8) + [0xFC] + Array("nchen\n2,K".utf8) + [0xF6] + Array("ln\n".utf8))
        #expect(western.encoding == "latin-1")
    }
}
