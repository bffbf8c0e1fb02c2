import AutoloaderCore
import CCompression
import Testing
@testable import AutoloaderFormats

/// A reader that hands out at most `step` bytes per read, to push records across buffer boundaries.
final class TrickleReader: ByteReader {
    let bytes: [UInt8]
    var offset = 0
    let step: Int
    init(_ text: String, step: Int) { bytes = Array(text.utf8); self.step = step }
    init(bytes: [UInt8], step: Int) { self.bytes = bytes; self.step = step }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(step, buffer.count, bytes.count - offset)
        for i in 0..<n { buffer[i] = bytes[offset + i] }
        offset += n
        return n
    }
}

func records(_ text: String, _ dialect: Dialect = Dialect(), step: Int = 1 << 20, buffer: Int = 1 << 20) throws -> [([String], Int)] {
    let reader = CSVRecordReader(source: TrickleReader(text, step: step), dialect: dialect, bufferSize: buffer)
    var out: [([String], Int)] = []
    while try reader.next() { out.append((reader.fieldStrings(), reader.line)) }
    return out
}

@Suite struct TokenizerTests {
    @Test func rfc4180Quoting() throws {
        let r = try records("a,b,c\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\nlast,,\n")
        #expect(r.map(\.0) == [["a", "b", "c"], ["x, y", "say \"hi\"", "two\nlines"], ["last", "", ""]])
        #expect(r.map(\.1) == [1, 2, 4])  // physical lines: the quoted newline counts
    }

    @Test func lineEndings() throws {
        #expect(try records("a,b\r\n1,2\r\n").map(\.0) == [["a", "b"], ["1", "2"]])
        #expect(try records("a,b\r1,2\r3,4").map(\.0) == [["a", "b"], ["1", "2"], ["3", "4"]])
        #expect(try records("a,b\n\n1,2\n").map(\.1) == [1, 3])  // blank lines skipped but counted
    }

    @Test func backslashEscape() throws {
        let d = Dialect(escape: UInt8(ascii: "\\"))
        #expect(try records(#""he said \"no\"",2"# + "\n", d).map(\.0) == [["he said \"no\"", "2"]])
    }

    @Test func recordsSurviveEveryBufferBoundary() throws {
        let text = "id,text\n1,\"a,b\"\r\n2,\"q\"\"uote\"\r\n3,\"multi\r\nline\"\r\n4,end"
        let expected = try records(text)
        for step in 1...7 {
            let got = try records(text, step: step, buffer: 64)
            #expect(got.map(\.0) == expected.map(\.0), "step \(step)")
            #expect(got.map(\.1) == expected.map(\.1), "step \(step)")
        }
        #expect(expected.map(\.0).last == ["4", "end"])
    }

    @Test func byteOrderMarkIsStripped() throws {
        let bytes: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("city,n\nBonn,1\n".utf8)
        let reader = CSVRecordReader(source: TrickleReader(bytes: bytes, step: 2), dialect: Dialect())
        #expect(try reader.next())
        #expect(reader.fieldStrings() == ["city", "n"])
    }

    @Test func latin1IsTranscoded() throws {
        let reader = CSVRecordReader(source: Windows1252ToUTF8Reader(TrickleReader(bytes: [0x4D, 0xFC, 0x6E, 0x7A], step: 3)), dialect: Dialect())
        #expect(try reader.next())
        #expect(reader.fieldStrings() == ["Münz"])
    }

    /// Windows-1252's € ’ “ ” (0x80…0x9F), and UTF-8 with such bytes mixed in, a UTF-8 sequence cut by every
    /// chunk boundary (a trickle of 1 to 4 bytes).
    @Test func windows1252AndMixedTextAreTranscoded() throws {
        let cp1252: [UInt8] = [0x80, 0x20, 0x93, 0x48, 0x69, 0x94, 0x20, 0x92]  // € “Hi” ’
        #expect(String(decoding: Windows1252ToUTF8Reader.transcode(cp1252, mixed: false), as: UTF8.self) == "€ \u{201C}Hi\u{201D} \u{2019}")
        let mixed: [UInt8] = Array("café ".utf8) + [0x96] + Array(" naïve\n".utf8)  // UTF-8, then a Windows-1252 en dash
        for step in 1...4 {
            let reader = Windows1252ToUTF8Reader(TrickleReader(bytes: mixed, step: step), mixed: true, chunk: step)
            var out: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 3)
            while true {
                let n = try buffer.withUnsafeMutableBytes { try reader.read(into: $0) }
                if n == 0 { break }
                out += buffer[0..<n]
            }
            #expect(String(decoding: out, as: UTF8.self) == "café \u{2013} naïve\n", "step \(step)")
        }
    }
}

@Suite struct ValueTests {
    func with<T>(_ s: String, _ f: (UnsafeBufferPointer<UInt8>) -> T) -> T {
        var s = s
        return s.withUTF8 { f($0) }
    }

    @Test func integers() {
        #expect(with("-9223372036854775808") { Values.int64($0) } == Int64.min)
        #expect(with("9223372036854775808") { Values.int64($0) } == nil)
        #expect(with("07460") { Values.int64($0) } == nil)  // identifier-safe
        #expect(with("+5") { Values.int64($0) } == nil)
        #expect(with("0") { Values.int64($0) } == 0)
    }

    @Test func doublesAreExact() {
        #expect(with("12.50") { Values.double($0) } == 12.5)
        #expect(with("-0.1") { Values.double($0) } == -0.1)
        #expect(with("1.5e10") { Values.double($0) } == 1.5e10)
        #expect(with("0.123456789") { Values.double($0) } == 0.123456789)
        #expect(with("1.2.3") { Values.double($0) } == nil)
    }

    @Test func booleansAndNulls() {
        #expect(with("TRUE") { Values.boolean($0) } == true)
        #expect(with("n") { Values.boolean($0) } == false)
        #expect(with("1") { Values.boolean($0) } == nil)
        #expect(with("maybe") { Values.boolean($0) } == nil)
        #expect(with("\\N") { Values.nullToken($0) } == 5)
        #expect(with("None") { Values.nullToken($0) } == nil)
    }

    @Test func temporalParsingAndISO() throws {
        func iso(_ value: String, _ pattern: String, _ kind: TypeKind) -> String? {
            guard let f = TemporalFormat(pattern, kind: kind) else { return nil }
            return with(value) { b in
                guard let v = f.parse(b) else { return nil }
                var out: [UInt8] = []
                f.writeISO(v, into: &out)
                return String(decoding: out, as: UTF8.self)
            }
        }
        #expect(iso("3/8/1971", "%m/%d/%Y", .date) == "1971-03-08")
        #expect(iso("31.12.2024", "%d.%m.%Y", .date) == "2024-12-31")
        #expect(iso("2024-02-30", "%Y-%m-%d", .date) == nil)
        #expect(iso("2024-13-01", "%Y-%m-%d", .date) == nil)
        #expect(iso("2024-02-29 23:59:01.123", "%Y-%m-%d %H:%M:%S.%f", .timestamp) == "2024-02-29 23:59:01.123")
        #expect(iso("2016-02-03T07:55:29Z", "%Y-%m-%dT%H:%M:%S%z", .timestamptz) == "2016-02-03 07:55:29Z")
        #expect(iso("2024-01-01T01:30:00+02:00", "%Y-%m-%dT%H:%M:%S%z", .timestamptz) == "2023-12-31 23:30:00Z")
        #expect(iso("2024-12-31T23:00:00-0130", "%Y-%m-%dT%H:%M:%S%z", .timestamptz) == "2025-01-01 00:30:00Z")
        #expect(iso("7:05", "%H:%M", .time) == "07:05:00")
    }

    /// `isISO` (a value copied as written) says yes exactly when parsing and writing it back gives the same bytes.
    @Test func isoValuesAreRecognisedExactly() throws {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("0123456789-: .T".utf8)
        for (pattern, kind, seed) in [("%Y-%m-%d", TypeKind.date, "2024-02-29"), ("%Y-%m-%d %H:%M:%S", .timestamp, "2023-12-31 23:59:59"),
                                      ("%Y-%m-%d %H:%M:%S.%f", .timestamp, "2024-02-29 23:59:01.123456789")] {
            let format = try #require(TemporalFormat(pattern, kind: kind))
            var copied = 0
            for _ in 0..<20_000 {
                // The seed with a few bytes changed, cut or lengthened: valid values, impossible dates, wrong shapes.
                var bytes = Array(seed.utf8)
                for _ in 0..<Int.random(in: 0...2, using: &rng) {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = alphabet.randomElement(using: &rng)!
                }
                switch Int.random(in: 0..<6, using: &rng) {
                case 0: bytes.removeLast(Int.random(in: 1...min(10, bytes.count - 1), using: &rng))
                case 1: bytes.append(alphabet.randomElement(using: &rng)!)
                default: break
                }
                bytes.withUnsafeBufferPointer { b in
                    var written: [UInt8]?
                    if let v = format.parse(b) {
                        written = []
                        format.writeISO(v, into: &written!)
                    }
                    #expect(format.isISO(b) == (written == bytes), "\(String(decoding: bytes, as: UTF8.self)) as \(pattern)")
                    if format.isISO(b) { copied += 1 }
                }
            }
            #expect(copied > 1_000, "\(pattern): the test must reach valid values")
        }
        // Other layouts are never copied: their ISO text differs from what was written.
        let us = try #require(TemporalFormat("%m/%d/%Y", kind: .date))
        #expect(!Array("03/08/1971".utf8).withUnsafeBufferPointer { us.isISO($0) })
        let t = try #require(TemporalFormat("%Y-%m-%dT%H:%M:%S", kind: .timestamp))
        #expect(!Array("2024-01-01T00:00:00".utf8).withUnsafeBufferPointer { t.isISO($0) })
    }

    @Test func utf8Validation() {
        let good = Array("naïve — ok 😀".utf8)
        #expect(good.withUnsafeBufferPointer { UTF8Validation.firstInvalidByte($0) } == nil)
        let bad: [UInt8] = Array("abcdefghij".utf8) + [0xE9] + Array("xyz".utf8)
        #expect(bad.withUnsafeBufferPointer { UTF8Validation.firstInvalidByte($0) } == 10)
        let truncated: [UInt8] = Array("ab".utf8) + [0xE2, 0x80]
        #expect(truncated.withUnsafeBufferPointer { UTF8Validation.firstInvalidByte($0) } == 2)
        #expect(truncated.withUnsafeBufferPointer { UTF8Validation.firstInvalidByte($0, allowTruncatedEnd: true) } == nil)
        #expect(Array("😀é".utf8).withUnsafeBufferPointer { UTF8Validation.codePointCount($0) } == 2)
    }
}

/// Records inside wrapper objects (`{"data": [...]}`): found by path, across every buffer boundary.
@Suite struct JSONWrapperTests {
    func ids(_ text: String, path: [String], step: Int) throws -> [String] {
        let reader = JSONRecordReader(source: TrickleReader(text, step: step), path: path)
        var out: [String] = []
        while let record = try reader.next() {
            if case let .number(n)? = record.first(where: { $0.0 == "id" })?.1 { out.append(String(decoding: n, as: UTF8.self)) }
        }
        return out
    }

    @Test func recordsAtAPath() throws {
        let nested = #"{"status": "ok", "result": {"page": {"n": [1, {"x": "]"}]}, "items": [{"id": 1, "s": "a}b"}, {"id": 2}], "more": "x"}, "t": 1}"#
        let concatenated = "{\"data\": [{\"id\": 1}]}\n{\"data\": []}{\"data\": [{\"id\": 2}, {\"id\": 3}], \"meta\": {}}\n"
        for step in [1, 3, 7, 1 << 20] {
            #expect(try ids(nested, path: ["result", "items"], step: step) == ["1", "2"])
            #expect(try ids(concatenated, path: ["data"], step: step) == ["1", "2", "3"])
            #expect(try ids("\u{FEFF}{\"d\\u0061ta\": [{\"id\": 9}]}", path: ["data"], step: step) == ["9"])
        }
        #expect(throws: JSONSyntaxError.self) { try ids(#"{"data": {"id": 1}}"#, path: ["data"], step: 5) }
        #expect(throws: JSONSyntaxError.self) { try ids(#"{"other": [{"id": 1}]}"#, path: ["data"], step: 5) }
        #expect(throws: JSONSyntaxError.self) { try ids(#"{"data": [{"id": 1}"#, path: ["data"], step: 5) }
        #expect(throws: JSONSyntaxError.self) { try ids(#"{"data": [{"id": 1}] "x": 1}"#, path: ["data"], step: 5) }
    }

    @Test func theCommonWrapperIsDetected() {
        func path(_ text: String) -> [String]? { JSONRecordReader.wrapperPath(Array(text.utf8)) }
        #expect(path(#"{"data": [{"id": 1}], "meta": {"n": 1}}"#) == ["data"])
        #expect(path(#"{"count": 2, "next": null, "results": [ {"id": 1} ]}"#) == ["results"])
        // A file larger than the sample: the object does not end in it.
        #expect(path(#"{"records": [{"id": 1}, {"id": 2"#) == ["records"])
        // Not wrappers: NDJSON whose records hold arrays, a top-level array, an array of numbers, a plain record.
        #expect(path("{\"id\": 1, \"tags\": [{\"a\": 1}]}\n{\"id\": 2, \"tags\": []}\n") == nil)
        #expect(path(#"[{"id": 1}]"#) == nil)
        #expect(path(#"{"id": 1, "scores": [1, 2]}"#) == nil)
        #expect(path(#"{"id": 1, "name": "x"}"#) == nil)
    }
}

/// Parquet's LZ4 codecs: LZ4_RAW is one bare block; "LZ4" is Hadoop's framing ([uncompressed][compressed] sizes,
/// big-endian, then a block), or a bare block from writers that ignored the framing.
@Suite struct ParquetLZ4Tests {
    func block(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(LZ4_compressBound(Int32(data.count))))
        let n = data.withUnsafeBufferPointer { i in
            out.withUnsafeMutableBufferPointer { o in
                i.withMemoryRebound(to: CChar.self) { src in
                    o.withMemoryRebound(to: CChar.self) { dst in LZ4_compress_default(src.baseAddress, dst.baseAddress, Int32(src.count), Int32(dst.count)) }
                }
            }
        }
        return Array(out[0..<Int(n)])
    }

    func be32(_ n: Int) -> [UInt8] { [UInt8(n >> 24 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] }

    @Test func rawHadoopFramedAndBareBlocks() throws {
        let first = Array((0..<5000).map { UInt8($0 % 251) }), second = Array("the second block, repeated ".utf8) + Array(repeating: UInt8(ascii: "z"), count: 3000)
        let whole = first + second
        #expect(try ParquetFile.decompress(block(whole), codec: 7, size: whole.count, name: "t.parquet") == whole)
        let a = block(first), b = block(second)
        let framed = be32(first.count) + be32(a.count) + a + be32(second.count) + be32(b.count) + b
        #expect(try ParquetFile.decompress(framed, codec: 5, size: whole.count, name: "t.parquet") == whole)
        #expect(try ParquetFile.decompress(block(whole), codec: 5, size: whole.count, name: "t.parquet") == whole)
        #expect(throws: AutoloaderError.self) { try ParquetFile.decompress(Array(framed.dropLast(7)), codec: 5, size: whole.count, name: "t.parquet") }
        #expect(throws: AutoloaderError.self) { try ParquetFile.decompress(block(whole), codec: 7, size: whole.count + 1, name: "t.parquet") }
        #expect(throws: AutoloaderError.self) { try ParquetFile.decompress([1, 2, 3], codec: 3, size: 3, name: "t.parquet") }
    }
}

/// Snappy blocks written by hand, to reach each kind of element and each way a block can be corrupt.
@Suite struct SnappyTests {
    /// varint length, then elements: a literal, a copy that overlaps itself (a run), a copy that does not, each
    /// copy form (1-, 2- and 4-byte offsets).
    @Test func literalsAndCopiesOfEveryForm() throws {
        let literal: [UInt8] = [(5 - 1) << 2] + Array("abcde".utf8)
        let run: [UInt8] = [1 | ((7 - 4) << 2), 1]                       // 7 bytes from 1 back: "eeeeeee"
        let far: [UInt8] = [2 | ((5 - 1) << 2), 12, 0]                   // 5 bytes from 12 back: "abcde"
        let widest: [UInt8] = [3 | ((3 - 1) << 2), 17, 0, 0, 0]          // 3 bytes from 17 back: "abc"
        let expected: [UInt8] = Array("abcdeeeeeeeeabcdeabc".utf8)
        var block: [UInt8] = [UInt8(expected.count)]
        block += literal
        block += run
        block += far
        block += widest
        #expect(try Snappy.decompress(block) == expected)
        #expect(try Snappy.decompress([0]) == [])
        // A literal longer than 60 bytes carries its length in the bytes after the tag.
        let long = [UInt8](repeating: 0x41, count: 300)
        #expect(try Snappy.decompress([0xAC, 0x02, 61 << 2, 0x2B, 0x01] + long) == long)
    }

    @Test func corruptBlocksAreErrors() {
        let literal: [UInt8] = [(3 - 1) << 2] + Array("abc".utf8)
        for (block, why) in [
            ([3] + [1 | (0 << 2), 0], "copy offset 0"),                    // offset 0
            ([7] + literal + [1 | (0 << 2), 4], "copy offset 4"),         // reaches before the output's start
            ([2] + literal, "output longer"),                             // more than declared
            ([9] + literal, "output shorter"),                            // less than declared
            ([3] + [(3 - 1) << 2, 0x61], "literal past the end"),         // literal cut short
            ([0x80], "bad length header"),
            ([1] + [2 | (0 << 2), 1], "truncated copy"),
        ] as [([UInt8], String)] {
            do { _ = try Snappy.decompress(block); Issue.record("\(why): accepted") } catch {
                #expect("\(error)".contains(why), "\(error)")
            }
        }
    }
}

/// Parquet's RLE / bit-packed hybrid (levels, dictionary indices) at every bit width.
@Suite struct RLEHybridTests {
    /// Packs `values` as Parquet does: LSB first, eight values per group.
    static func bitPacked(_ values: [Int], width: Int) -> (header: [UInt8], body: [UInt8]) {
        let groups = (values.count + 7) / 8
        var header = [UInt8]()
        var v = groups << 1 | 1
        while v >= 0x80 { header.append(UInt8(v & 0x7F | 0x80)); v >>= 7 }
        header.append(UInt8(v))
        var out = [UInt8]()
        var bits = [Bool]()
        for value in values + Array(repeating: 0, count: groups * 8 - values.count) {
            for k in 0..<width { bits.append(value >> k & 1 == 1) }
        }
        for start in stride(from: 0, to: bits.count, by: 8) {
            var byte: UInt8 = 0
            for k in 0..<8 where start + k < bits.count && bits[start + k] { byte |= 1 << k }
            out.append(byte)
        }
        return (header, out)
    }

    @Test func bitPackedRunsAtEveryWidth() throws {
        var rng = SystemRandomNumberGenerator()
        for width in 0...32 {
            let values = (0..<(8 * Int.random(in: 1...40, using: &rng))).map { _ in width == 0 ? 0 : Int.random(in: 0..<(1 << width), using: &rng) }
            // A repeated run after the packed one, as writers mix them.
            let repeated: [UInt8] = [UInt8(5 << 1)] + (0..<((width + 7) / 8)).map { UInt8(truncatingIfNeeded: values[0] >> (8 * $0)) }
            let (header, body) = Self.bitPacked(values, width: width)
            #expect(try RLEHybrid.decode(header + body + repeated, bitWidth: width, count: values.count + 5)
                    == values + Array(repeating: values[0], count: 5), "width \(width)")
            // The last run may stop short of its group of eight, its bytes too: only the values asked for are read.
            let count = values.count - Int.random(in: 1...7, using: &rng)
            let (shortHeader, shortBody) = Self.bitPacked(Array(values.prefix(count)), width: width)
            #expect(try RLEHybrid.decode(shortHeader + shortBody.prefix((count * width + 7) / 8), bitWidth: width, count: count)
                    == Array(values.prefix(count)), "width \(width), short")
        }
    }
}
