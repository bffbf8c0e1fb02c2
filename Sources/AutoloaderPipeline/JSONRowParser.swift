import AutoloaderCore
import Foundation
import AutoloaderFormats

/// JSON records (NDJSON, one array, one object) → converted cells, keys matched to columns by name.
/// A key first seen after the detection sample has no column: that record is a bad row (reported, and
/// handled by the table's on_error policy), never silently dropped data.
final class JSONRowParser: RecordParser, @unchecked Sendable {
    let spec: RowSinkSpec
    let keyIndex: [String: Int]
    let converters: [Converter]
    let keys: [String]
    /// Evolution `rescue`: unknown keys, dropped columns and values that do not fit go to `_rescued_data`.
    let rescue: Bool
    let source: any ByteReader
    let hashing: HashingReader
    /// Where the records are (a wrapper object's array), as detection found or the table says.
    let path: [String]

    init(spec: RowSinkSpec, keys: [String], converters: [Converter], rescue: Bool = false, source: any ByteReader, hashing: HashingReader,
         path: [String] = []) {
        self.path = path
        self.spec = spec
        self.keys = keys
        self.rescue = rescue
        var index: [String: Int] = [:]
        for (i, k) in keys.enumerated() where index[k] == nil { index[k] = i }
        keyIndex = index
        self.converters = converters
        self.source = source
        self.hashing = hashing
    }

    func parse(_ channel: BoundedChannel<Parsed>) throws -> Loader.FileOutcome {
        // Rescue gathers whole values for `_rescued_data`; loading otherwise reads records in their bytes.
        rescue ? try parseValues(channel) : try parseScanned(channel)
    }

    private enum RecordResult { case row, syntax(JSONSyntaxError), unknown(String), bad(Int) }

    /// Records scanned in place: each member's bytes go to its column's converter, with no String or JSONValue
    /// made for it (that was most of loading NDJSON). Same results as `parseValues`, which stays for rescue.
    private func parseScanned(_ channel: BoundedChannel<Parsed>) throws -> Loader.FileOutcome {
        let reader = JSONRecordReader(source: source, path: path)
        var sink = spec.sink(into: channel)
        var converters = self.converters  // called in place (see Converter.append)
        var scanner = JSONObjectScanner()
        // A column's value in the current record; `absent` where the record has none. Not optional: a flag
        // beside the slice is cheaper to clear and to read per member than an Optional of it.
        let absent = JSONObjectScanner.Slice(kind: .null, inScratch: false, start: -1, count: 0)
        var slots = [JSONObjectScanner.Slice](repeating: absent, count: converters.count)
        // Records mostly repeat their keys in the same order: the key at a position last time is compared
        // first, and only a different key is looked up. The keys' bytes in one buffer, without an array per key.
        var lastKeyBytes: [UInt8] = []
        var lastKeys: [(start: Int, count: Int, index: Int?)] = []

        func scanRecord(_ raw: UnsafeBufferPointer<UInt8>) -> RecordResult {
            for c in slots.indices { slots[c] = absent }
            var unknown: String?
            var position = 0
            let wellFormed = scanner.scan(raw) { key, value in
                var index: Int?
                var known = false
                if position < lastKeys.count {
                    let last = lastKeys[position]
                    if last.count == key.count, key.isEmpty || lastKeyBytes.withUnsafeBufferPointer({
                        memcmp($0.baseAddress! + last.start, key.baseAddress!, key.count) }) == 0 {
                        index = last.index
                        known = true
                    }
                }
                if !known {
                    index = keyIndex[String(decoding: key, as: UTF8.self)]
                    if position < lastKeys.count { lastKeys.removeSubrange(position...) }
                    if let start = lastKeys.last.map({ $0.start + $0.count }) { lastKeyBytes.removeSubrange(start...) } else { lastKeyBytes.removeAll() }
                    lastKeys.append((lastKeyBytes.count, key.count, index))
                    lastKeyBytes.append(contentsOf: key)
                }
                position += 1
                if let index { slots[index] = value } else if value.kind != .null, unknown == nil { unknown = String(decoding: key, as: UTF8.self) }
            }
            guard wellFormed else { return .syntax(reader.syntaxError(in: raw)) }
            if let unknown { return .unknown(unknown) }
            let mark = sink.mark
            return scanner.scratch.withUnsafeBufferPointer { scratch in
                for c in converters.indices {
                    let ok: Bool
                    let v = slots[c]
                    if v.start >= 0 {
                        let bytes = UnsafeBufferPointer(rebasing: (v.inScratch ? scratch : raw)[v.start..<(v.start + v.count)])
                        switch v.kind {
                        case .null: ok = converters[c].append(nil, to: &sink.batch)
                        case .bool: ok = converters[c].append(.bool(bytes.first == UInt8(ascii: "t")), to: &sink.batch)
                        case .nested: ok = converters[c].append(.nested(String(decoding: bytes, as: UTF8.self)), to: &sink.batch)
                        case .string, .number: ok = converters[c].isDropped || converters[c].appendValue(bytes, to: &sink.batch)
                        }
                    } else {
                        ok = converters[c].append(nil, to: &sink.batch)
                    }
                    if !ok {
                        sink.undo(to: mark)
                        return .bad(c)
                    }
                }
                return .row
            }
        }

        func record(_ raw: UnsafeBufferPointer<UInt8>) -> RecordResult {
            // Text that is not UTF-8 is repaired (U+FFFD), as String does on the value path.
            if UTF8Validation.firstInvalidByte(raw) != nil {
                let repaired = Array(String(decoding: raw, as: UTF8.self).utf8)
                return repaired.withUnsafeBufferPointer { scanRecord($0) }
            }
            return scanRecord(raw)
        }

        while true {
            // A line that is not one whole record (a record spread over lines) is read again the careful way.
            guard let result = try reader.nextRaw(tryLine: { raw -> RecordResult? in
                let result = record(raw)
                if case .syntax = result { return nil }
                return result
            }, record) else { break }
            switch result {
            case .row:
                try sink.endRow()
            case let .syntax(error):
                // Syntax errors end the file: there is no reliable next record to resume at.
                return sink.failed(sink.fatal(line: error.line, reason: error.reason), sha256: try drainAndDigest(source, hashing))
            case let .unknown(key):
                let reason = "key \"\(key)\" has no column (first seen after the detection sample)"
                if let failure = sink.reject(line: reader.recordLine, column: key, rawText: "", reason: reason, locatedColumn: true) {
                    return sink.failed(failure, sha256: try drainAndDigest(source, hashing))
                }
            case let .bad(c):
                let name = keyIndex.first { $0.value == c }?.key ?? "column \(c + 1)"
                let reason = "value of \"\(name)\" does not fit its column (\(converters[c].typeDescription))"
                if let failure = sink.reject(line: reader.recordLine, column: name, rawText: "", reason: reason, locatedColumn: true) {
                    return sink.failed(failure, sha256: try drainAndDigest(source, hashing))
                }
            }
        }
        try sink.flush()
        return sink.loaded(sha256: try drainAndDigest(source, hashing))
    }

    private func parseValues(_ channel: BoundedChannel<Parsed>) throws -> Loader.FileOutcome {
        let reader = JSONRecordReader(source: source, path: path)
        var sink = spec.sink(into: channel)
        var values = [JSONValue?](repeating: nil, count: converters.count)
        var converters = self.converters  // called in place (see Converter.append)
        var rescued = RescuedData()
        while true {
            let record: [(String, JSONValue)]
            do {
                guard let r = try reader.next() else { break }
                record = r
            } catch let error as JSONSyntaxError {
                // Syntax errors end the file: there is no reliable next record to resume at.
                return sink.failed(sink.fatal(line: error.line, reason: error.reason), sha256: try drainAndDigest(source, hashing))
            }
            for i in values.indices { values[i] = nil }
            var unknown: String?
            rescued.reset()
            for (k, v) in record {
                if let i = keyIndex[k] {
                    values[i] = v
                    if rescue, converters[i].isDropped { rescued.add(k, value: v) }
                } else if case .null = v {
                } else if rescue {
                    rescued.add(k, value: v)
                } else {
                    unknown = k
                }
            }
            if let unknown {
                let reason = "key \"\(unknown)\" has no column (first seen after the detection sample)"
                if let failure = sink.reject(line: reader.recordLine, column: unknown, rawText: "", reason: reason, locatedColumn: true) {
                    return sink.failed(failure, sha256: try drainAndDigest(source, hashing))
                }
                continue
            }
            let mark = sink.mark
            if rescue {
                for i in converters.indices where !converters[i].append(values[i], to: &sink.batch) {
                    sink.batch.cells.append(.null)
                    if let v = values[i] { rescued.add(keys[i], value: v) }
                }
                rescued.append(to: &sink.batch)
            } else if let bad = converters.indices.first(where: { !converters[$0].append(values[$0], to: &sink.batch) }) {
                sink.undo(to: mark)
                let name = keyIndex.first { $0.value == bad }?.key ?? "column \(bad + 1)"
                let reason = "value of \"\(name)\" does not fit its column (\(converters[bad].typeDescription))"
                if let failure = sink.reject(line: reader.recordLine, column: name, rawText: "", reason: reason, locatedColumn: true) {
                    return sink.failed(failure, sha256: try drainAndDigest(source, hashing))
                }
                continue
            }
            try sink.endRow()
        }
        try sink.flush()
        return sink.loaded(sha256: try drainAndDigest(source, hashing))
    }
}
