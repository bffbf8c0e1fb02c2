import Foundation

/// Wall-clock helpers: the catalog stores times as ISO-8601 UTC text, file times as Unix nanoseconds.
public enum WallClock {
    public static func nowNanos() -> Int64 { Int64(Date().timeIntervalSince1970 * 1e9) }

    public static func iso(nanos: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: Double(nanos) / 1e9))
    }

    public static func nowISO() -> String { iso(nanos: nowNanos()) }

    /// Accepts `2024-01-31`, `2024-01-31T10:00:00`, `2024-01-31 10:00:00Z`, with or without offset (UTC assumed).
    public static func parseNanos(_ text: String) -> Int64? {
        var s = text.replacingOccurrences(of: " ", with: "T")
        if s.count == 10 { s += "T00:00:00" }
        if !(s.hasSuffix("Z") || s.dropFirst(19).contains("+") || s.dropFirst(19).contains("-")) { s += "Z" }
        let formatter = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime]] {
            formatter.formatOptions = options
            if let d = formatter.date(from: s) { return Int64(d.timeIntervalSince1970 * 1e9) }
        }
        return nil
    }
}
