import Foundation

/// Wall-clock helpers: the catalog stores times as ISO-8601 UTC text, file times as Unix nanoseconds.
public enum WallClock {
    public static func nowNanos() -> Int64 { Int64(Date().timeIntervalSince1970 * 1e9) }

    /// `2024-01-31T10:00:00.123Z`. Written by hand: an ISO8601DateFormatter per call was 12 % of loading many
    /// small files (every catalog write stamps a time).
    public static func iso(nanos: Int64) -> String {
        let (q, r) = nanos.quotientAndRemainder(dividingBy: 1_000_000_000)
        var seconds = time_t(r < 0 ? q - 1 : q)
        let millis = Int((r < 0 ? r + 1_000_000_000 : r) / 1_000_000)
        var t = tm()
        gmtime_r(&seconds, &t)
        var out: [UInt8] = []
        out.reserveCapacity(24)
        func digits(_ value: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                divisor /= 10
            }
        }
        digits(Int(t.tm_year) + 1900, 4); out.append(UInt8(ascii: "-"))
        digits(Int(t.tm_mon) + 1, 2); out.append(UInt8(ascii: "-"))
        digits(Int(t.tm_mday), 2); out.append(UInt8(ascii: "T"))
        digits(Int(t.tm_hour), 2); out.append(UInt8(ascii: ":"))
        digits(Int(t.tm_min), 2); out.append(UInt8(ascii: ":"))
        digits(Int(t.tm_sec), 2); out.append(UInt8(ascii: "."))
        digits(millis, 3); out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }

    public static func nowISO() -> String { iso(nanos: nowNanos()) }

    /// Accepts `2024-01-31`, `2024-01-31T10:00:00`, `2024-01-31 10:00:00Z`, fractions of a second to the
    /// nanosecond, with or without an offset (`+02:00`, `-0500`; UTC assumed). Exact: no trip through Double.
    public static func parseNanos(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        var i = 0
        func number(_ width: Int) -> Int? {
            guard i + width <= b.count else { return nil }
            var v = 0
            for k in i..<i + width {
                guard b[k] >= 0x30 && b[k] <= 0x39 else { return nil }
                v = v * 10 + Int(b[k] - 0x30)
            }
            i += width
            return v
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < b.count, b[i] == c else { return false }
            i += 1
            return true
        }
        guard let year = number(4), expect(UInt8(ascii: "-")), let month = number(2), expect(UInt8(ascii: "-")), let day = number(2),
              (1...12).contains(month), (1...31).contains(day) else { return nil }
        var hour = 0, minute = 0, second = 0, fraction: Int64 = 0, offset = 0
        if i < b.count {
            guard b[i] == UInt8(ascii: "T") || b[i] == UInt8(ascii: " ") else { return nil }
            i += 1
            guard let h = number(2), expect(UInt8(ascii: ":")), let m = number(2), h < 24, m < 60 else { return nil }
            (hour, minute) = (h, m)
            if expect(UInt8(ascii: ":")) {
                guard let sec = number(2), sec <= 60 else { return nil }
                second = sec
                if expect(UInt8(ascii: ".")) || expect(UInt8(ascii: ",")) {
                    var digits = 0
                    while i < b.count, b[i] >= 0x30 && b[i] <= 0x39 {
                        if digits < 9 { fraction = fraction * 10 + Int64(b[i] - 0x30); digits += 1 }
                        i += 1
                    }
                    guard digits > 0 else { return nil }
                    for _ in digits..<9 { fraction *= 10 }
                }
            }
            if expect(UInt8(ascii: "Z")) {
            } else if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
                let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
                i += 1
                guard let oh = number(2) else { return nil }
                _ = expect(UInt8(ascii: ":"))
                let om = number(2) ?? 0
                offset = sign * (oh * 3600 + om * 60)
            }
        }
        guard i == b.count else { return nil }
        var t = tm()
        t.tm_year = Int32(year - 1900)
        t.tm_mon = Int32(month - 1)
        t.tm_mday = Int32(day)
        t.tm_hour = Int32(hour)
        t.tm_min = Int32(minute)
        t.tm_sec = Int32(second)
        let seconds = Int64(timegm(&t)) - Int64(offset)
        // Nanoseconds since 1970 fit an Int64 from 1677 to 2262: a time outside is the nearest end (`reload --since
        // 1000-01-01` means every file), never an overflow trap.
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (total, overflowed) = whole.addingReportingOverflow(fraction)
        if overflow || overflowed { return seconds < 0 ? Int64.min : Int64.max }
        return total
    }
}
