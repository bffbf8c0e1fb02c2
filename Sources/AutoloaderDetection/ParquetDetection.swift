import AutoloaderCore
import AutoloaderFormats

/// Parquet: types come from the declared schema, never the values; only varchar sizes are read from the
/// data (string columns of the first row groups, within the sample's row budget).
public enum ParquetDetection {
    public static func detect(reader: any RandomAccessReader, name: String, options: DetectionOptions = .init()) -> Detection {
        var result = Detection(file: name, format: .parquet, compression: .none)
        let file: ParquetFile
        do {
            file = try ParquetFile(reader: reader, name: name)
        } catch {
            result.format = .invalid
            result.error = Detector.reason(error)
            return result
        }
        result.rows = Int(file.numRows)
        result.parquetCodec = file.codecs.sorted().joined(separator: ",")
        result.sampleComplete = true
        var columns: [Column] = []
        var detected: [Detection.DetectedColumn] = []
        for field in file.fields {
            var type = file.columnType(field)
            var sample: String?
            if type.kind == .varchar, (type.maxLength ?? 0) == 0 {  // a UUID's 36 is known without looking
                let binary = ParquetFile.ScalarForm(field.node).kind == .binary  // loaded as base64: 4 characters per 3 bytes
                var maxLength = 0, maxBytes = 0, rows = 0
                // The first sampleRows values, streamed. A column that cannot be read here is left to the load,
                // which reports where it breaks.
                sampling: for group in file.rowGroups.indices {
                    guard let reader = try? ParquetFile.ColumnReader(file: file, field: field, rowGroup: group) else { break }
                    for _ in 0..<reader.count {
                        if rows == options.sampleRows { result.sampleComplete = false; break sampling }
                        guard let value = try? reader.next() else { break sampling }
                        rows += 1
                        guard case let .bytes(b) = value else { continue }
                        if binary {
                            maxLength = max(maxLength, (b.count + 2) / 3 * 4)
                            maxBytes = maxLength
                            continue
                        }
                        if sample == nil { sample = String(decoding: b.prefix(80), as: UTF8.self) }
                        maxLength = max(maxLength, b.withUnsafeBufferPointer { UTF8Validation.codePointCount($0) })
                        maxBytes = max(maxBytes, b.count)
                    }
                }
                type = .varchar(maxLength, bytes: maxBytes)
            }
            columns.append(Column(name: field.name, type: type, nullable: field.nullable))
            detected.append(.init(name: field.name, type: type.kind.rawValue, precision: type.precision, scale: type.scale, format: nil,
                                  maxLength: type.maxLength, maxBytes: type.maxBytes, nullable: field.nullable, nullTokens: [], sample: sample))
        }
        result.columns = detected
        result.schema = TableSchema(columns: columns)
        return result
    }
}
