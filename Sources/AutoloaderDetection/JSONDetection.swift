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
            text.withUnsafeBufferPointer {
                numbers.add($0)
                note($0)
            }
        case let .string(s)?:
            kinds |= Self.string
            var s = s
            s.withUTF8 {
                strings.add($0)
                note($0)
            }
        case var .nested(text)?:
            kinds |= Self.nested
            text.withUTF8 { note($0) }
        }
    }

    /// Lengths from the bytes, no String made per value (detection runs before any row loads).
    private mutating func note(_ text: UnsafeBufferPointer<UInt8>) {
        if sample == nil { sample = String(String(decoding: text, as: UTF8.self).prefix(80)) }
        maxLength = max(maxLength, UTF8Validation.codePointCount(text))
        maxBytes = max(maxBytes, text.count)
    }

    private mutating func note(_ text: String) {
        var text = text
        text.withUTF8 { note($0) }
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
        // Columns by first appearance; per column the last record that had it (a key twice in a record counts once).
        var order: [String] = []
        var index: [String: Int] = [:]
        var stats: [JSONColumnStats] = []
        var seenIn: [Int] = []
        var rows = 0
        do {
            while rows < options.sampleRows, let record = try reader.next() {
                var present = 0
                for (key, value) in record {
                    let c: Int
                    if let known = index[key] {
                        c = known
                        if seenIn[c] == rows { continue }
                    } else {
                        c = order.count
                        index[key] = c
                        order.append(key)
                        // Records before this one lacked the key: they are nulls.
                        var s = JSONColumnStats()
                        s.nulls = rows
                        stats.append(s)
                        seenIn.append(-1)
                    }
                    seenIn[c] = rows
                    present += 1
                    stats[c].add(value)
                }
                if present < order.count {
                    for c in order.indices where seenIn[c] != rows { stats[c].add(nil) }
                }
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
        for (c, key) in order.enumerated() {
            let s = stats[c]
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
