import AutoloaderCore

/// A strptime-style date/time format (`%Y-%m-%d`, `%m/%d/%Y %H:%M`, `%Y-%m-%dT%H:%M:%S.%f%z`), compiled
/// once and matched against bytes. Month, day and hour accept one or two digits (`3/8/1971`).
public struct TemporalFormat: Sendable, Equatable {
    enum Token: Equatable, Sendable { case year, month, day, hour, minute, second, fraction, offset, literal(UInt8) }

    public let pattern: String
    public let kind: TypeKind
    let tokens: [Token]
    /// For the ISO layouts `writeISO` writes (`%Y-%m-%d` dates, `%Y-%m-%d %H:%M:%S[.%f]` timestamps), the length of a
    /// value without a fraction; else 0. See `isISO`.
    let isoLength: Int
    /// The layout's fraction is `.%f` (present or not in a value).
    let isoFraction: Bool

    public init?(_ pattern: String, kind: TypeKind) {
        var tokens: [Token] = []
        var it = Array(pattern.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "%") {
                guard let c = it.popFirst() else { return nil }
                switch c {
                case UInt8(ascii: "Y"): tokens.append(.year)
                case UInt8(ascii: "m"): tokens.append(.month)
                case UInt8(ascii: "d"): tokens.append(.day)
                case UInt8(ascii: "H"): tokens.append(.hour)
                case UInt8(ascii: "M"): tokens.append(.minute)
                case UInt8(ascii: "S"): tokens.append(.second)
                case UInt8(ascii: "f"): tokens.append(.fraction)
                case UInt8(ascii: "z"): tokens.append(.offset)
                default: return nil
                }
            } else {
                tokens.append(.literal(b))
            }
        }
        self.pattern = pattern
        self.kind = kind
        self.tokens = tokens
        switch (kind, pattern) {
        case (.date, "%Y-%m-%d"): (isoLength, isoFraction) = (10, false)
        case (.timestamp, "%Y-%m-%d %H:%M:%S"): (isoLength, isoFraction) = (19, false)
        case (.timestamp, "%Y-%m-%d %H:%M:%S.%f"): (isoLength, isoFraction) = (19, true)
        default: (isoLength, isoFraction) = (0, false)
        }
    }

    /// True when `b` is a valid value of this format written exactly as `writeISO` writes it (`parse` accepts it and
    /// `writeISO` gives back the same bytes), so a loader may copy it as it is: the check costs a fraction of a parse
    /// and a write, which were an eighth of an NDJSON load. Formats other than the ISO ones: always false.
    @inline(__always) public func isISO(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard isoLength != 0, b.count == isoLength || (isoFraction && b.count > 20 && b.count <= 29) else { return false }
        @inline(__always) func digit(_ i: Int) -> Int { Int(b[i] &- 48) }  // over 9 for anything but a digit
        @inline(__always) func two(_ i: Int) -> Int? {
            let (h, l) = (digit(i), digit(i + 1))
            return h < 10 && l < 10 ? h * 10 + l : nil
        }
        guard let y1 = two(0), let y2 = two(2), let month = two(5), let day = two(8),
              b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), month >= 1, month <= 12, day >= 1,
              day <= Self.daysIn(month: month, year: y1 * 100 + y2) else { return false }
        if isoLength == 10 { return true }
        guard b[10] == UInt8(ascii: " "), b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"),
              let hour = two(11), let minute = two(14), let second = two(17), hour <= 23, minute <= 59, second <= 59 else { return false }
        guard b.count > 19 else { return true }
        guard b[19] == UInt8(ascii: ".") else { return false }
        for i in 20..<b.count where digit(i) > 9 { return false }
        return true
    }

    public struct Value: Equatable, Sendable {
        public var year = 1970, month = 1, day = 1, hour = 0, minute = 0, second = 0
        /// Fraction digits as written (up to 9), and how many.
        public var fraction = 0, fractionDigits = 0
        public var offsetMinutes: Int?
        public init() {}

        /// From a count of `unit`s (1 s = 1e9 ns) since the Unix epoch, as UTC.
        public init(sinceEpoch value: Int64, unitsPerSecond: Int64) {
            var seconds = value / unitsPerSecond
            var fraction = value % unitsPerSecond
            if fraction < 0 { fraction += unitsPerSecond; seconds -= 1 }
            var days = seconds / 86400
            var secondOfDay = seconds % 86400
            if secondOfDay < 0 { secondOfDay += 86400; days -= 1 }
            (year, month, day) = TemporalFormat.civilFromDays(Int(days))
            hour = Int(secondOfDay / 3600)
            minute = Int(secondOfDay / 60 % 60)
            second = Int(secondOfDay % 60)
            if unitsPerSecond > 1 && fraction != 0 {
                // Only the digits that carry information: 07:55:29.5, not 07:55:29.500000000.
                var digits = String(unitsPerSecond).count - 1
                var f = fraction
                while f % 10 == 0 { f /= 10; digits -= 1 }
                fractionDigits = digits
                self.fraction = Int(f)
            }
            offsetMinutes = 0
        }
    }

    /// Parses the whole field or returns nil (also for impossible dates such as 2024-02-30 or month 13).
    public func parse(_ b: UnsafeBufferPointer<UInt8>) -> Value? {
        var v = Value()
        var i = 0
        let n = b.count
        @inline(__always) func digits(min: Int, max: Int) -> Int? {
            var value = 0, count = 0
            while i < n && count < max, b[i] &- 48 < 10 {
                value = value * 10 + Int(b[i] - 48)
                i += 1
                count += 1
            }
            return count >= min ? value : nil
        }
        var t = 0
        while t < tokens.count {
            let token = tokens[t]
            t += 1
            switch token {
            case let .literal(c):
                // `.%f` may be absent: writers drop a zero fraction (Python's isoformat, Spark), so one column
                // holds `10:00:00` and `10:00:00.25`.
                if c == UInt8(ascii: "."), t < tokens.count, tokens[t] == .fraction, i == n || b[i] != c {
                    t += 1
                    continue
                }
                guard i < n, b[i] == c else { return nil }
                i += 1
            case .year: guard let x = digits(min: 4, max: 4) else { return nil }; v.year = x
            case .month: guard let x = digits(min: 1, max: 2), x >= 1, x <= 12 else { return nil }; v.month = x
            case .day: guard let x = digits(min: 1, max: 2), x >= 1, x <= 31 else { return nil }; v.day = x
            case .hour: guard let x = digits(min: 1, max: 2), x <= 23 else { return nil }; v.hour = x
            case .minute: guard let x = digits(min: 2, max: 2), x <= 59 else { return nil }; v.minute = x
            case .second: guard let x = digits(min: 2, max: 2), x <= 59 else { return nil }; v.second = x
            case .fraction:
                let s = i
                guard let x = digits(min: 1, max: 9) else { return nil }
                v.fraction = x
                v.fractionDigits = i - s
            case .offset:
                guard i < n else { return nil }
                if b[i] == UInt8(ascii: "Z") {
                    i += 1
                    v.offsetMinutes = 0
                } else {
                    guard b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") else { return nil }
                    let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
                    i += 1
                    guard let hh = digits(min: 2, max: 2), hh <= 18 else { return nil }
                    var mm = 0
                    if i < n && b[i] == UInt8(ascii: ":") { i += 1 }
                    if i < n { guard let m = digits(min: 2, max: 2), m <= 59 else { return nil }; mm = m }
                    v.offsetMinutes = sign * (hh * 60 + mm)
                }
            }
        }
        guard i == n else { return nil }
        if v.day > Self.daysIn(month: v.month, year: v.year) { return nil }
        return v
    }

    public static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Writes the value as ISO 8601 text: `YYYY-MM-DD`, `HH:MM:SS[.f]`, `YYYY-MM-DD HH:MM:SS[.f]`, and for
    /// timestamptz the same converted to UTC with a `Z` (so text order is time order).
    public func writeISO(_ value: Value, into out: inout [UInt8]) {
        var v = value
        if kind == .timestamptz, let off = v.offsetMinutes, off != 0 {
            let days = Self.daysFromCivil(v.year, v.month, v.day)
            var minutes = days * 1440 + v.hour * 60 + v.minute - off
            let d = Int((Double(minutes) / 1440).rounded(.down))
            minutes -= d * 1440
            (v.year, v.month, v.day) = Self.civilFromDays(d)
            v.hour = minutes / 60
            v.minute = minutes % 60
        }
        // Digits are appended one by one: this runs once per date cell, so no temporary arrays.
        @inline(__always) func put2(_ x: Int) {
            out.append(UInt8(48 + x / 10))
            out.append(UInt8(48 + x % 10))
        }
        @inline(__always) func put4(_ x: Int) {
            put2(x / 100 % 100)
            put2(x % 100)
        }
        @inline(__always) func putFraction(_ x: Int, _ digits: Int) {
            var divisor = 1
            for _ in 1..<digits { divisor *= 10 }
            while divisor > 0 {
                out.append(UInt8(48 + x / divisor % 10))
                divisor /= 10
            }
        }
        if kind != .time {
            put4(v.year); out.append(UInt8(ascii: "-")); put2(v.month); out.append(UInt8(ascii: "-")); put2(v.day)
            if kind == .date { return }
            out.append(UInt8(ascii: " "))
        }
        put2(v.hour); out.append(UInt8(ascii: ":")); put2(v.minute); out.append(UInt8(ascii: ":")); put2(v.second)
        if v.fractionDigits > 0 { out.append(UInt8(ascii: ".")); putFraction(v.fraction, v.fractionDigits) }
        if kind == .timestamptz { out.append(UInt8(ascii: "Z")) }
    }

    /// Days since 1970-01-01 (proleptic Gregorian), after Howard Hinnant's algorithm.
    public static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    public static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
