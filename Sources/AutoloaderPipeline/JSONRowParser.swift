import AutoloaderCore
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

    init(spec: RowSinkSpec, keys: [String], converters: [Converter], rescue: Bool = false, source: any ByteReader, hashing: HashingReader) {
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

    func run(into channel: BoundedChannel<Parsed>) {
        do {
            _ = channel.send(.done(try parse(channel)))
        } catch {
            _ = channel.send(.failed(error))
        }
    }

    private func parse(_ channel: BoundedChannel<Parsed>) throws -> Loader.FileOutcome {
        let reader = JSONRecordReader(source: source)
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
