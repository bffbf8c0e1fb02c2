import AutoloaderCore
import AutoloaderFormats

/// Avro object container files: columns are the top-level record's fields, types come from the schema, never the
/// values; only varchar sizes are read from the records in the sample (whole blocks within it).
public enum AvroDetection {
    public static func isAvro(_ head: [UInt8]) -> Bool { head.starts(with: AvroContainer.magic) }

    public static func detect(sample: [UInt8], complete: Bool, compression: Compression, name: String, options: DetectionOptions = .init()) -> Detection {
        var result = Detection(file: name, format: .avro, compression: compression)
        let container: AvroContainer
        let fields: [AvroSchema.Field]
        do {
            container = try AvroContainer(source: BytesReader(sample), name: name)
            fields = try container.schema.columns(file: name)
        } catch {
            result.format = .invalid
            result.error = Detector.reason(error)
            return result
        }
        let schema = container.schema
        result.avroCodec = container.codec
        var types = fields.map { schema.columnType($0.node) }
        var maxLength = [Int](repeating: 0, count: fields.count), maxBytes = maxLength
        var samples = [String?](repeating: nil, count: fields.count)
        let measured = fields.indices.filter { types[$0].type.kind == .varchar && types[$0].type.maxLength == 0 }
        var rows = 0
        var ended = true
        var scratch: [UInt8] = []
        // Whole blocks only: the sample may end inside one (then the rest is the load's to read).
        sampling: while rows < options.sampleRows {
            do {
                guard try container.nextBlock() else { break }
            } catch {
                if complete { result.format = .invalid; result.error = Detector.reason(error); return result }
                ended = false
                break
            }
            let failure: String? = container.block.withUnsafeBytes { raw in
                var c = AvroCursor(raw)
                do {
                    for _ in 0..<container.blockRecords {
                        if rows == options.sampleRows { return nil }
                        rows += 1
                        for (k, f) in fields.enumerated() {
                            guard measured.contains(k) else {
                                scratch.removeAll(keepingCapacity: true)
                                try schema.writeJSON(f.node, &c, into: &scratch)
                                continue
                            }
                            let n = try schema.resolve(f.node, &c)
                            let value: UnsafeRawBufferPointer
                            var binary = true  // loaded as base64: 4 characters per 3 bytes
                            switch schema.nodes[n] {
                            case .string: value = try c.bytes(); binary = false
                            case .bytes: value = try c.bytes()
                            case let .fixed(size, _): value = try c.take(size)
                            case .null: continue
                            default:
                                scratch.removeAll(keepingCapacity: true)
                                try schema.writeJSON(n, &c, into: &scratch)
                                continue
                            }
                            let text = value.bindMemory(to: UInt8.self)
                            if binary {
                                maxLength[k] = max(maxLength[k], (text.count + 2) / 3 * 4)
                                maxBytes[k] = maxLength[k]
                                continue
                            }
                            if samples[k] == nil { samples[k] = String(decoding: text.prefix(80), as: UTF8.self) }
                            maxLength[k] = max(maxLength[k], UTF8Validation.codePointCount(text))
                            maxBytes[k] = max(maxBytes[k], text.count)
                        }
                    }
                } catch {
                    return "record \(container.recordsBefore + rows): \(error)"
                }
                return nil
            }
            if let failure {
                result.format = .invalid
                result.error = "Avro \(failure)"
                return result
            }
            if rows == options.sampleRows { ended = false; break sampling }
        }
        result.rows = rows
        result.sampleComplete = complete && ended
        var columns: [Column] = []
        var detected: [Detection.DetectedColumn] = []
        for (k, f) in fields.enumerated() {
            if measured.contains(k) { types[k].type = .varchar(maxLength[k], bytes: maxBytes[k]) }
            let (type, nullable) = types[k]
            columns.append(Column(name: f.name, type: type, nullable: nullable))
            detected.append(.init(name: f.name, type: type.kind.rawValue, precision: type.precision, scale: type.scale, format: nil,
                                  maxLength: type.maxLength, maxBytes: type.maxBytes, nullable: nullable, nullTokens: [], sample: samples[k]))
        }
        result.columns = detected
        result.schema = TableSchema(columns: columns)
        return result
    }
}
