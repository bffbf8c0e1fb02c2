import AutoloaderCore
import Foundation

/// DynamoDB's JSON protocol (`DynamoDB_20120810`): what a catalog and the seed's state need — items with typed
/// attributes, conditional writes (a failed condition is `conditionFailed`, not a generic error), transactions,
/// paged queries and scans.
public final class DynamoDBClient: Sendable {
    public let aws: AWSClient
    public init(aws: AWSClient) { self.aws = aws }

    /// One attribute value as DynamoDB types it.
    public indirect enum Value: Sendable, Equatable {
        case s(String), n(String), b([UInt8]), bool(Bool), null, l([Value]), m([String: Value]), ss([String]), ns([String])

        public var string: String? {
            switch self {
            case let .s(v), let .n(v): return v
            default: return nil
            }
        }
        public var int: Int64? { if case let .n(v) = self { return Int64(v) }; return nil }

        var json: Any {
            switch self {
            case let .s(v): return ["S": v]
            case let .n(v): return ["N": v]
            case let .b(v): return ["B": Data(v).base64EncodedString()]
            case let .bool(v): return ["BOOL": v]
            case .null: return ["NULL": true]
            case let .l(v): return ["L": v.map(\.json)]
            case let .m(v): return ["M": v.mapValues(\.json)]
            case let .ss(v): return ["SS": v]
            case let .ns(v): return ["NS": v]
            }
        }

        init?(json: Any) {
            guard let object = json as? [String: Any], let (type, value) = object.first else { return nil }
            switch type {
            case "S": guard let v = value as? String else { return nil }; self = .s(v)
            case "N": guard let v = value as? String else { return nil }; self = .n(v)
            case "B": guard let v = value as? String, let data = Data(base64Encoded: v) else { return nil }; self = .b([UInt8](data))
            case "BOOL": guard let v = value as? Bool else { return nil }; self = .bool(v)
            case "NULL": self = .null
            case "L": guard let v = value as? [Any] else { return nil }; self = .l(v.compactMap { Value(json: $0) })
            case "M": guard let v = value as? [String: Any] else { return nil }; self = .m(v.compactMapValues { Value(json: $0) })
            case "SS": guard let v = value as? [String] else { return nil }; self = .ss(v)
            case "NS": guard let v = value as? [String] else { return nil }; self = .ns(v)
            default: return nil
            }
        }
    }

    public typealias Item = [String: Value]

    /// A condition or key expression with its `#name` / `:value` placeholders.
    public struct Expression: Sendable {
        public var text: String
        public var names: [String: String]
        public var values: Item
        public init(_ text: String, names: [String: String] = [:], values: Item = [:]) {
            self.text = text
            self.names = names
            self.values = values
        }
    }

    /// A write whose condition did not hold (another process got there first), or a transaction cancelled for it.
    public struct ConditionFailed: Error, Sendable, CustomStringConvertible {
        public var table: String
        public var reasons: [String]
        public var description: String { "a conditional write to \(table) did not apply (\(reasons.joined(separator: ", ")))" }
    }

    func call(_ operation: String, table: String, _ body: [String: Any]) throws -> [String: Any] {
        do {
            return try aws.json(service: "dynamodb", target: "DynamoDB_20120810.\(operation)", version: "1.0",
                                action: "dynamodb:\(operation)", resource: table, body, timeoutSeconds: 30)
        } catch let AWSError.service(_, code, message, _, _) where code == "ConditionalCheckFailedException" {
            throw ConditionFailed(table: table, reasons: [message.isEmpty ? "ConditionalCheckFailed" : message])
        } catch let AWSError.service(_, code, message, _, _) where code == "TransactionCanceledException" {
            // "Transaction cancelled, please refer cancellation reasons for specific reasons [None, ConditionalCheckFailed]"
            let reasons = message.split(separator: "[").last.map { $0.dropLast().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? []
            throw ConditionFailed(table: table, reasons: reasons)
        }
    }

    static func encode(_ item: Item) -> [String: Any] { item.mapValues(\.json) }
    static func decode(_ object: Any?) -> Item { (object as? [String: Any])?.compactMapValues { Value(json: $0) } ?? [:] }

    static func add(_ expression: Expression?, as key: String, to body: inout [String: Any]) {
        guard let expression else { return }
        body[key] = expression.text
        if !expression.names.isEmpty {
            body["ExpressionAttributeNames"] = (body["ExpressionAttributeNames"] as? [String: String] ?? [:]).merging(expression.names) { $1 }
        }
        if !expression.values.isEmpty {
            body["ExpressionAttributeValues"] = (body["ExpressionAttributeValues"] as? [String: Any] ?? [:]).merging(encode(expression.values)) { $1 }
        }
    }

    // MARK: tables

    /// Whether the table exists (and is usable).
    public func tableExists(_ table: String) throws -> Bool {
        do {
            let r = try call("DescribeTable", table: table, ["TableName": table])
            return (r["Table"] as? [String: Any])?["TableStatus"] as? String != "DELETING"
        } catch let AWSError.service(_, code, _, _, _) where code == "ResourceNotFoundException" {
            return false
        }
    }

    /// A global secondary index: string `hash` and `range`, every attribute projected. An item without the index's
    /// keys is not in it (a sparse index).
    public struct Index: Sendable {
        public var name: String, hash: String, range: String
        public init(name: String, hash: String, range: String) {
            self.name = name
            self.hash = hash
            self.range = range
        }
    }

    /// An on-demand table keyed by string `hash` (and `range`), with `indexes`.
    public func createTable(_ table: String, hash: String, range: String? = nil, indexes: [Index] = []) throws {
        var names = [hash] + (range.map { [$0] } ?? [])
        var schema = [["AttributeName": hash, "KeyType": "HASH"]]
        if let range { schema.append(["AttributeName": range, "KeyType": "RANGE"]) }
        var body: [String: Any] = ["TableName": table, "KeySchema": schema, "BillingMode": "PAY_PER_REQUEST"]
        if !indexes.isEmpty {
            body["GlobalSecondaryIndexes"] = indexes.map { index -> [String: Any] in
                ["IndexName": index.name, "Projection": ["ProjectionType": "ALL"],
                 "KeySchema": [["AttributeName": index.hash, "KeyType": "HASH"], ["AttributeName": index.range, "KeyType": "RANGE"]]]
            }
            for index in indexes { names += [index.hash, index.range] }
        }
        var seen = Set<String>()
        body["AttributeDefinitions"] = names.filter { seen.insert($0).inserted }.map { ["AttributeName": $0, "AttributeType": "S"] }
        _ = try call("CreateTable", table: table, body)
    }

    /// The table's status (`CREATING`, `ACTIVE`…), nil when there is none.
    public func tableStatus(_ table: String) throws -> String? {
        do {
            let r = try call("DescribeTable", table: table, ["TableName": table])
            return (r["Table"] as? [String: Any])?["TableStatus"] as? String
        } catch let AWSError.service(_, code, _, _, _) where code == "ResourceNotFoundException" {
            return nil
        }
    }

    public func deleteTable(_ table: String) throws {
        _ = try call("DeleteTable", table: table, ["TableName": table])
    }

    // MARK: items

    public func get(_ table: String, key: Item) throws -> Item? {
        let r = try call("GetItem", table: table, ["TableName": table, "Key": Self.encode(key), "ConsistentRead": true])
        return r["Item"] == nil ? nil : Self.decode(r["Item"])
    }

    /// The items of `keys` that exist (consistent reads), 100 keys a call; keys DynamoDB leaves unprocessed
    /// (throttling) are asked again after a pause.
    public func batchGet(_ table: String, keys: [Item]) throws -> [Item] {
        var found: [Item] = []
        for start in stride(from: 0, to: keys.count, by: 100) {
            var asking: Any = ["Keys": keys[start..<min(keys.count, start + 100)].map(Self.encode), "ConsistentRead": true] as [String: Any]
            for attempt in 0... {
                let r = try call("BatchGetItem", table: table, ["RequestItems": [table: asking]])
                found += ((r["Responses"] as? [String: Any])?[table] as? [Any] ?? []).map { Self.decode($0) }
                guard let rest = (r["UnprocessedKeys"] as? [String: Any])?[table], ((rest as? [String: Any])?["Keys"] as? [Any])?.isEmpty == false else { break }
                asking = rest
                usleep(UInt32(min(2_000_000, 50_000 << min(attempt, 5))))
            }
        }
        return found
    }

    /// Writes `item` if `condition` holds (throws `ConditionFailed` otherwise).
    public func put(_ table: String, _ item: Item, condition: Expression? = nil) throws {
        var body: [String: Any] = ["TableName": table, "Item": Self.encode(item)]
        Self.add(condition, as: "ConditionExpression", to: &body)
        _ = try call("PutItem", table: table, body)
    }

    /// Applies `update` (`SET #a = :v …`) if `condition` holds; returns the item as it is after.
    @discardableResult
    public func update(_ table: String, key: Item, _ update: Expression, condition: Expression? = nil) throws -> Item {
        var body: [String: Any] = ["TableName": table, "Key": Self.encode(key), "ReturnValues": "ALL_NEW"]
        Self.add(update, as: "UpdateExpression", to: &body)
        Self.add(condition, as: "ConditionExpression", to: &body)
        return Self.decode(try call("UpdateItem", table: table, body)["Attributes"])
    }

    public func delete(_ table: String, key: Item, condition: Expression? = nil) throws {
        var body: [String: Any] = ["TableName": table, "Key": Self.encode(key)]
        Self.add(condition, as: "ConditionExpression", to: &body)
        _ = try call("DeleteItem", table: table, body)
    }

    /// One write of a transaction.
    public enum Write: Sendable {
        case put(table: String, item: Item, condition: Expression?)
        case update(table: String, key: Item, update: Expression, condition: Expression?)
        case delete(table: String, key: Item, condition: Expression?)
        case check(table: String, key: Item, condition: Expression)
    }

    /// All of `writes` or none (up to 100): a condition that fails cancels the whole transaction (`ConditionFailed`).
    public func transact(_ writes: [Write]) throws {
        guard !writes.isEmpty else { return }
        let items: [[String: Any]] = writes.map { write in
            var body: [String: Any]
            let kind: String
            switch write {
            case let .put(table, item, condition):
                kind = "Put"
                body = ["TableName": table, "Item": Self.encode(item)]
                Self.add(condition, as: "ConditionExpression", to: &body)
            case let .update(table, key, update, condition):
                kind = "Update"
                body = ["TableName": table, "Key": Self.encode(key)]
                Self.add(update, as: "UpdateExpression", to: &body)
                Self.add(condition, as: "ConditionExpression", to: &body)
            case let .delete(table, key, condition):
                kind = "Delete"
                body = ["TableName": table, "Key": Self.encode(key)]
                Self.add(condition, as: "ConditionExpression", to: &body)
            case let .check(table, key, condition):
                kind = "ConditionCheck"
                body = ["TableName": table, "Key": Self.encode(key)]
                Self.add(condition, as: "ConditionExpression", to: &body)
            }
            return [kind: body]
        }
        let table: String = {
            switch writes[0] {
            case let .put(t, _, _), let .update(t, _, _, _), let .delete(t, _, _), let .check(t, _, _): return t
            }
        }()
        _ = try call("TransactWriteItems", table: table, ["TransactItems": items])
    }

    /// One write as its own call (a lone condition check as a transaction: there is no other way to send one),
    /// several as one transaction.
    public func write(_ writes: [Write]) throws {
        guard writes.count == 1 else { return try transact(writes) }
        switch writes[0] {
        case let .put(table, item, condition): try put(table, item, condition: condition)
        case let .update(table, key, expression, condition): try update(table, key: key, expression, condition: condition)
        case let .delete(table, key, condition): try delete(table, key: key, condition: condition)
        case .check: try transact(writes)
        }
    }

    /// Items whose key matches `keyCondition`, in key order (`forward` false: descending), all pages or the first
    /// `limit` items. On an `index` reads are eventually consistent (DynamoDB offers no other there).
    public func query(_ table: String, _ keyCondition: Expression, filter: Expression? = nil, index: String? = nil, limit: Int? = nil,
                      forward: Bool = true) throws -> [Item] {
        try paged("Query", table: table, limit: filter == nil ? limit : nil) { body in
            Self.add(keyCondition, as: "KeyConditionExpression", to: &body)
            Self.add(filter, as: "FilterExpression", to: &body)
            if let index { body["IndexName"] = index } else { body["ConsistentRead"] = true }
            if !forward { body["ScanIndexForward"] = false }
        }.prefix(limit ?? .max).map { $0 }
    }

    /// Every item of the table, all pages.
    public func scan(_ table: String) throws -> [Item] {
        try paged("Scan", table: table) { body in body["ConsistentRead"] = true }
    }

    private func paged(_ operation: String, table: String, limit: Int? = nil, _ fill: (inout [String: Any]) -> Void) throws -> [Item] {
        var items: [Item] = []
        var start: Any?
        repeat {
            var body: [String: Any] = ["TableName": table]
            fill(&body)
            if let limit { body["Limit"] = max(1, limit - items.count) }
            if let start { body["ExclusiveStartKey"] = start }
            let r = try call(operation, table: table, body)
            items += (r["Items"] as? [Any] ?? []).map { Self.decode($0) }
            start = r["LastEvaluatedKey"]
        } while start != nil && items.count < (limit ?? .max)
        return items
    }
}
