import Foundation

/// When a table's pending files may load (its `schedule` option). Pure: the service asks it with the clock and
/// the table's backlog. Times are wall-clock nanoseconds; cron is read in UTC, as EventBridge reads it.
///
/// - `continuous` (default): as soon as files are recorded.
/// - `rate(5 minutes)`: at every multiple of the period (since 1970, UTC), the files recorded before it load
///   (in as many loads as their batch limits need); files recorded after wait for the next one.
/// - `cron(0/5 * ? * * *)`: the same at each time the expression names (EventBridge's six fields, or five).
/// - `gather(60 seconds)`: a load starts once its oldest pending file has waited this long, or a batch is full
///   (max_files or max_bytes): fewer, larger loads, as Redshift's COPY prefers.
public enum LoadSchedule: Sendable, Equatable, CustomStringConvertible {
    case continuous
    case rate(seconds: Int64)
    case cron(Cron)
    case gather(seconds: Int64)

    public init(_ text: String) throws {
        let t = text.trimmingCharacters(in: .whitespaces)
        func inside(_ prefix: String) -> String? {
            guard t.lowercased().hasPrefix(prefix + "("), t.hasSuffix(")") else { return nil }
            return String(t.dropFirst(prefix.count + 1).dropLast()).trimmingCharacters(in: .whitespaces)
        }
        if t.lowercased() == "continuous" {
            self = .continuous
        } else if let period = inside("rate") {
            self = .rate(seconds: try Self.duration(period, what: "rate"))
        } else if let period = inside("gather") {
            self = .gather(seconds: try Self.duration(period, what: "gather"))
        } else if let expression = inside("cron") {
            self = .cron(try Cron(expression))
        } else {
            throw AutoloaderError.invalidOptions(reason: "schedule '\(text)' is not one of continuous, rate(5 minutes), cron(0/5 * ? * * *), gather(60 seconds)")
        }
    }

    /// `5 minutes`, `1 hour`, `30 seconds`, `2 days`.
    static func duration(_ text: String, what: String) throws -> Int64 {
        let parts = text.split(separator: " ")
        let units: [String: Int64] = ["second": 1, "minute": 60, "hour": 3600, "day": 86_400]
        var word = parts.count == 2 ? parts[1].lowercased() : ""
        if word.hasSuffix("s") { word.removeLast() }
        guard parts.count == 2, let n = Int64(parts[0]), n > 0, n <= 366 * 86_400, let unit = units[word] else {
            throw AutoloaderError.invalidOptions(reason: "\(what)(\(text)): write a whole number and a unit, e.g. \(what)(5 minutes), \(what)(1 hour)")
        }
        return n * unit
    }

    public var description: String {
        switch self {
        case .continuous: return "continuous"
        case let .rate(s): return "rate(\(s) seconds)"
        case let .cron(c): return "cron(\(c.text))"
        case let .gather(s): return "gather(\(s) seconds)"
        }
    }

    /// The table's pending work, as the decision needs it.
    public struct Backlog: Sendable {
        public var oldestDiscoveredNanos: Int64
        public var files: Int
        public var bytes: Int64
        public init(oldestDiscoveredNanos: Int64, files: Int, bytes: Int64) {
            self.oldestDiscoveredNanos = oldestDiscoveredNanos
            self.files = files
            self.bytes = bytes
        }
    }

    /// nil: a load may start now. Otherwise the wall-clock time at which it may.
    public func waitsUntil(now: Int64, backlog: Backlog, maxFiles: Int, maxBytes: Int64) -> Int64? {
        let second: Int64 = 1_000_000_000
        switch self {
        case .continuous:
            return nil
        case let .gather(seconds):
            if backlog.files >= maxFiles || backlog.bytes >= maxBytes { return nil }
            let due = backlog.oldestDiscoveredNanos + seconds * second
            return due <= now ? nil : due
        case let .rate(seconds):
            // The first tick at or after the oldest file's record.
            let period = seconds * second
            let tick = (backlog.oldestDiscoveredNanos / period + 1) * period
            return tick <= now ? nil : tick
        case let .cron(cron):
            guard let fire = cron.next(after: backlog.oldestDiscoveredNanos) else { return Int64.max }
            return fire <= now ? nil : fire
        }
    }
}

/// A cron expression in UTC: EventBridge's `minutes hours day-of-month month day-of-week year` (`?` for "any", as
/// EventBridge wants in one of the day fields) or the classic five fields. Fields take `*`, numbers, `a-b`, lists,
/// `*/n` and `a/n`, month names (JAN–DEC) and day names (SUN–SAT; 1–7 = SUN–SAT in six fields, 0–6 in five).
/// Not supported: `L`, `W`, `#` (an error says so).
public struct Cron: Sendable, Equatable {
    public let text: String
    let minutes: Set<Int>, hours: Set<Int>, days: Set<Int>, months: Set<Int>, weekdays: Set<Int>, years: Set<Int>?
    let anyDay: Bool, anyWeekday: Bool

    public init(_ text: String) throws {
        self.text = text
        let fields = text.split(separator: " ").map(String.init)
        guard fields.count == 5 || fields.count == 6 else {
            throw AutoloaderError.invalidOptions(reason: "cron(\(text)): write 6 fields (minutes hours day-of-month month day-of-week year), as EventBridge, or 5")
        }
        let eventBridge = fields.count == 6
        let monthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
        let dayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
        func field(_ i: Int, _ range: ClosedRange<Int>, names: [String] = [], nameBase: Int = 0) throws -> Set<Int>? {
            let f = fields[i].uppercased()
            if f == "*" || f == "?" { return nil }
            if f.contains("L") && !names.contains(where: { f.contains($0) }) || f.contains("W") && !names.contains(where: { f.contains($0) }) || f.contains("#") {
                throw AutoloaderError.invalidOptions(reason: "cron(\(text)): L, W and # are not supported; list the days instead")
            }
            func value(_ s: String) throws -> Int {
                if let n = Int(s), range.contains(n) { return n }
                if let k = names.firstIndex(of: s) { return k + nameBase }
                throw AutoloaderError.invalidOptions(reason: "cron(\(text)): '\(s)' is not in \(range.lowerBound)-\(range.upperBound)")
            }
            var result = Set<Int>()
            for part in f.split(separator: ",").map(String.init) {
                let pieces = part.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
                guard pieces.count <= 2 else { throw AutoloaderError.invalidOptions(reason: "cron(\(text)): '\(part)' has two steps") }
                var step = 1
                if pieces.count == 2 {
                    guard let s = Int(pieces[1]), s > 0 else { throw AutoloaderError.invalidOptions(reason: "cron(\(text)): '\(part)' needs a step above 0") }
                    step = s
                }
                var low = range.lowerBound, high = range.upperBound
                if pieces[0] != "*" {
                    let bounds = pieces[0].split(separator: "-").map(String.init)
                    guard bounds.count == 1 || bounds.count == 2 else { throw AutoloaderError.invalidOptions(reason: "cron(\(text)): '\(part)' is not a range") }
                    low = try value(bounds[0])
                    high = bounds.count == 2 ? try value(bounds[1]) : (pieces.count == 2 ? range.upperBound : low)
                    guard low <= high else { throw AutoloaderError.invalidOptions(reason: "cron(\(text)): '\(part)' runs backwards") }
                }
                result.formUnion(stride(from: low, through: high, by: step))
            }
            return result
        }
        let minutes = try field(0, 0...59), hours = try field(1, 0...23), days = try field(2, 1...31)
        let months = try field(3, 1...12, names: monthNames, nameBase: 1)
        // EventBridge numbers weekdays 1-7 from Sunday; classic cron 0-6 (7 also Sunday). Stored 0-6 from Sunday.
        let weekdays = try field(4, eventBridge ? 1...7 : 0...7, names: dayNames, nameBase: eventBridge ? 1 : 0)
            .map { Set($0.map { eventBridge ? $0 - 1 : $0 % 7 }) }
        self.minutes = minutes ?? Set(0...59)
        self.hours = hours ?? Set(0...23)
        self.days = days ?? Set(1...31)
        self.months = months ?? Set(1...12)
        self.weekdays = weekdays ?? Set(0...6)
        anyDay = days == nil
        anyWeekday = weekdays == nil
        years = eventBridge ? try field(5, 1970...2199) : nil
    }

    /// The first time (wall nanoseconds, a whole minute) strictly after `nanos` that the expression names; nil if
    /// none within 5 years.
    public func next(after nanos: Int64) -> Int64? {
        var minute = nanos / 60_000_000_000 + 1  // minutes since 1970
        let limit = minute + 5 * 366 * 1440
        while minute < limit {
            var t = time_t(minute * 60)
            var c = tm()
            gmtime_r(&t, &c)
            let year = Int(c.tm_year) + 1900, month = Int(c.tm_mon) + 1, day = Int(c.tm_mday)
            if let years, !years.contains(year) {
                minute = (Int64(timegm_year(year + 1)) / 60)  // next year's first minute
                continue
            }
            if !months.contains(month) || !dayMatches(day: day, weekday: Int(c.tm_wday)) {
                minute += Int64(1440 - Int(c.tm_hour) * 60 - Int(c.tm_min))  // next day
                continue
            }
            if !hours.contains(Int(c.tm_hour)) {
                minute += Int64(60 - Int(c.tm_min))  // next hour
                continue
            }
            if minutes.contains(Int(c.tm_min)) { return minute * 60_000_000_000 }
            minute += 1
        }
        return nil
    }

    /// Classic cron: when both day fields are restricted, either may match; EventBridge forbids both (one is `?`).
    func dayMatches(day: Int, weekday: Int) -> Bool {
        if anyDay && anyWeekday { return true }
        if anyDay { return weekdays.contains(weekday) }
        if anyWeekday { return days.contains(day) }
        return days.contains(day) || weekdays.contains(weekday)
    }

    private func timegm_year(_ year: Int) -> Int {
        var c = tm()
        c.tm_year = Int32(year - 1900)
        c.tm_mon = 0
        c.tm_mday = 1
        return timegm(&c)
    }
}
