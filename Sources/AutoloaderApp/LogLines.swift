import AutoloaderCore
import Foundation
import Logging

/// swift-log's handler for the program: one line per event on standard error, as text
/// (`TIME LEVEL message key=value …`) or as one JSON object (`--log-format json`: time, level, message and the
/// metadata as fields, for a log pipeline).
public struct LogLines: LogHandler {
    public enum Format: String, Sendable { case text, json }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public var metadataProvider: Logger.MetadataProvider?
    let format: Format
    let write: @Sendable (String) -> Void

    public init(format: Format, level: Logger.Level, write: @escaping @Sendable (String) -> Void = LogLines.standardError) {
        self.format = format
        self.logLevel = level
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public static let standardError: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { $1 } }
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        if let error = event.error { fields["error"] = "\(error)" }
        write(Self.render(format: format, time: WallClock.nowISO(), level: event.level, message: event.message.description, fields: fields))
    }

    static func render(format: Format, time: String, level: Logger.Level, message: String, fields: Logger.Metadata) -> String {
        switch format {
        case .text:
            var line = "\(time) \(level) \(message)"
            for (key, value) in fields.sorted(by: { $0.key < $1.key }) { line += " \(key)=\(text(value))" }
            return line
        case .json:
            var object: [String: Any] = ["time": time, "level": level.rawValue, "message": message]
            for (key, value) in fields where object[key] == nil { object[key] = json(value) }
            do {
                return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
            } catch {
                // A value JSON cannot hold (a non-finite number): the line still goes out, as text.
                return render(format: .text, time: time, level: level, message: message, fields: fields)
            }
        }
    }

    static func text(_ value: Logger.Metadata.Value) -> String {
        let s = "\(value)"
        return s.contains(" ") || s.isEmpty ? "\"\(s.replacingOccurrences(of: "\"", with: "\\\""))\"" : s
    }

    /// Numbers stay numbers in JSON (`rows: 100`, not `"100"`), so a log pipeline can sum them.
    static func json(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case let .string(s): return s
        case let .stringConvertible(c): return Int64(c.description).map { $0 as Any } ?? Double(c.description).map { $0 as Any } ?? c.description
        case let .array(values): return values.map(json)
        case let .dictionary(d): return d.mapValues(json)
        }
    }
}
