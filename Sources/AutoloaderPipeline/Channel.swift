import Foundation

/// A small blocking queue between two threads (parser → warehouse writer), bounded so that memory stays
/// proportional to the batch size, not the file size. Either side can close it; the other then stops.
final class BoundedChannel<Element>: @unchecked Sendable {
    private var items: [Element] = []
    private let capacity: Int
    private var closed = false
    private let condition = NSCondition()

    init(capacity: Int) { self.capacity = capacity }

    /// Blocks while full. Returns false when the channel was closed (the receiver gave up).
    func send(_ item: Element) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while items.count >= capacity && !closed { condition.wait() }
        if closed { return false }
        items.append(item)
        condition.broadcast()
        return true
    }

    /// Blocks while empty. nil once closed and drained.
    func receive() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !closed { condition.wait() }
        if items.isEmpty { return nil }
        let item = items.removeFirst()
        condition.broadcast()
        return item
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}
