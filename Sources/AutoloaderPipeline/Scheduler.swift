/// How long to wait before trying again after `failures` consecutive failures: exponential from `first`,
/// capped at `cap`, with jitter so that several loaders (or tables) do not retry in step. One policy for every
/// retry in the service: a table's loads, reconnecting to the warehouse.
public struct RetryPolicy: Sendable, Equatable {
    public var first: Double
    public var cap: Double
    /// Attempts before giving up; nil: never give up (the service).
    public var maxAttempts: Int?

    public init(first: Double, cap: Double, maxAttempts: Int? = nil) {
        self.first = first
        self.cap = cap
        self.maxAttempts = maxAttempts
    }

    /// A table whose load failed for a fault of the moment (source throttled, warehouse restarting, disk full):
    /// seconds at first, then minutes, so a long outage costs a retry every 5 minutes, not a storm.
    public static let loads = RetryPolicy(first: 2, cap: 300)
    /// Reconnecting to the warehouse or catalog.
    public static let connect = RetryPolicy(first: 1, cap: 30)

    /// `jitter` in 0…1 (a random draw; a parameter so that this stays pure): the delay is between half and all
    /// of the exponential step.
    public func delay(afterFailures failures: Int, jitter: Double) -> Double {
        let step = min(cap, first * Double(1 << min(max(failures - 1, 0), 30)))
        return step * (0.5 + 0.5 * min(max(jitter, 0), 1))
    }

    public func givesUp(afterFailures failures: Int) -> Bool {
        maxAttempts.map { failures >= $0 } ?? false
    }
}

/// Which table may start a load now. Pure (the clock is a parameter) and shared by `run` and `load`: one
/// load at a time per table, at most `workers` at once, and a table whose load failed transiently waits
/// out its backoff while the others go on.
public struct Scheduler: Sendable {
    public var workers: Int
    public var policy: RetryPolicy
    public private(set) var running: Set<String> = []
    private var backoff: [String: (failures: Int, until: Double)] = [:]

    public init(workers: Int, policy: RetryPolicy = .loads) {
        self.workers = max(1, workers)
        self.policy = policy
    }

    /// Of `pending` (tables with pending files, oldest first), those to start now; they count as running.
    public mutating func start(from pending: [String], now: Double) -> [String] {
        var started: [String] = []
        for table in pending where running.count < workers && !running.contains(table) {
            if let b = backoff[table], b.until > now { continue }
            running.insert(table)
            started.append(table)
        }
        return started
    }

    public enum Outcome: Sendable, Equatable {
        /// The load committed (whatever its files' outcomes).
        case done
        /// A fault of the moment: retried after a backoff.
        case transient
        /// Another load held what this one needed: retried after `contentionDelay`, the backoff unchanged.
        case contention
    }

    /// Seconds before a table that met contention tries again (jittered between half and all of it).
    public var contentionDelay = 1.0

    /// A started load ended. Returns the backoff (seconds) when it must wait, and whether it has used up
    /// its attempts (only a policy with `maxAttempts`).
    @discardableResult
    public mutating func finished(_ table: String, _ outcome: Outcome, now: Double, jitter: Double) -> (delay: Double, givesUp: Bool)? {
        running.remove(table)
        switch outcome {
        case .done:
            backoff.removeValue(forKey: table)
            return nil
        case .contention:
            let delay = contentionDelay * (0.5 + 0.5 * min(max(jitter, 0), 1))
            backoff[table] = (backoff[table]?.failures ?? 0, now + delay)
            return (delay, false)
        case .transient:
            let failures = (backoff[table]?.failures ?? 0) + 1
            let delay = policy.delay(afterFailures: failures, jitter: jitter)
            backoff[table] = (failures, now + delay)
            return (delay, policy.givesUp(afterFailures: failures))
        }
    }

    /// When the earliest backoff ends (to sleep until then), nil when no table waits.
    public func nextWake(after now: Double) -> Double? {
        backoff.values.map(\.until).filter { $0 > now }.min()
    }

    public func failures(of table: String) -> Int { backoff[table]?.failures ?? 0 }
}
