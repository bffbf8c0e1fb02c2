import AutoloaderCore
import AutoloaderFormats

/// JSON typing: a column is a top-level key (in order of first appearance); its JSON kind decides first.
/// All booleans → boolean; all numbers → the number ladder on their literal text; all strings → a date/time
/// format or varchar (strings never become numbers: "07460" stays text); all objects/arrays → json.
struct JSONColumnStats {
    static let bool: UInt8 = 1, number: UInt8 = 2, string: UInt8 = 4, nested: UInt8 = 8
    var kinds: UInt8 = 0
    var nulls = 0
    var numbers = ColumnStats()
    var strings = ColumnStats()
    var maxLength = 0
    var maxBytes = 0
    var sample: String?

    mutating func add(_ value: JSONValue?) {
        switch value {
        case nil, .null?:
            nulls += 1
        case let .bool(b)?:
            kinds |= Self.bool
            note(b ? "true" : "false")
        case let .number(text)?:
            kinds |= Self.number
            text.withUnsafeBufferPointer { numbers.add($0) }
            note(String(decoding: text, as: UTF8.self))
        case let .string(s)?:
            kinds |= Self.string
            var s = s
            s.withUTF8 { strings.add($0) }
            note(s)
        case let .nested(text)?:
            kinds |= Self.nested
            note(text)
        }
    }

    private mutating func note(_ text: String) {
        if sample == nil { sample = String(text.prefix(80)) }
        maxLength = max(maxLength, text.unicodeScalars.count)
        maxBytes = max(maxBytes, text.utf8.count)
    }

    var values: Int { numbers.values + strings.values + (kinds & (Self.bool | Self.nested) != 0 ? 1 : 0) }

    func resolve() -> ColumnType {
        switch kinds {
        case 0: return .varchar(0)
        case Self.bool: return .boolean
        case Self.number: return numbers.resolve()
        case Self.string: return strings.resolveText()
        case Self.nested: return .json
        default: return .varchar(maxLength, bytes: maxBytes)
        }
    }
}

enum JSONDetection {
    static func detect(sample: [UInt8], complete: Bool, into result: inout Detection, options: DetectionOptions) {
        // A wrapper object (`{"data": [...]}`) holds the records in an array: read them there, unless the table says.
        let path = options.forcedJSONPath ?? JSONRecordReader.wrapperPath(sample) ?? []
        let reader = JSONRecordReader(source: PrefixedReader(prefix: sample, rest: EmptyReader()), path: path)
        var order: [String] = []
        var stats: [String: JSONColumnStats] = [:]
        var rows = 0
        do {
            while rows < options.sampleRows, let record = try reader.next() {
                var seen = Set<String>()
                for (key, value) in record where !seen.contains(key) {
                    seen.insert(key)
                    if stats[key] == nil {
                        order.append(key)
                        // Records before this one lacked the key: they are nulls.
                        var s = JSONColumnStats()
                        s.nulls = rows
                        stats[key] = s
                    }
                    stats[key]!.add(value)
                }
                for key in order where !seen.contains(key) { stats[key]!.add(nil) }
                rows += 1
            }
        } catch let error as JSONSyntaxError {
            if complete {
                result.format = .invalid
                result.error = "invalid JSON at line \(error.line): \(error.reason)"
                result.errorLine = error.line
                return
            }
            // A bounded sample may end inside a record: the records before it are the sample.
        } catch {
            result.format = .invalid
            result.error = "\(error)"
            return
        }
        if rows == 0 && order.isEmpty {
            result.format = .invalid
            result.error = "JSON without any object records"
            return
        }
        result.jsonLayout = reader.layout?.rawValue ?? JSONLayout.object.rawValue
        result.jsonPath = path.isEmpty ? nil : path
        result.rows = rows
        result.sampleComplete = complete && rows < options.sampleRows
        var columns: [Column] = []
        var detected: [Detection.DetectedColumn] = []
        for key in order {
            let s = stats[key]!
            let type = s.resolve()
            let nullable = s.nulls > 0 || s.kinds == 0
            columns.append(Column(name: key, type: type, nullable: nullable))
            detected.append(.init(name: key, type: type.kind.rawValue, precision: type.precision, scale: type.scale, format: type.format,
                                  maxLength: type.maxLength, maxBytes: type.maxBytes, nullable: nullable, nullTokens: [], sample: s.sample))
        }
        result.columns = detected
        result.schema = TableSchema(columns: columns)
    }
}
