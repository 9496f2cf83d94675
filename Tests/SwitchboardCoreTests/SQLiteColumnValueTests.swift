import Foundation
import SQLiteKit
import Testing
@testable import SwitchboardCore

/// The direct reading of a SQLite column must answer exactly what sqlite-kit's decoder answers, or leave the value to it.
@Suite("SQLite column values")
struct SQLiteColumnValueTests {
    private let id = UUID()
    private var values: [SQLiteData] {
        [.null, .text("plain"), .text(id.uuidString), .text(id.uuidString.lowercased()), .text("not-a-uuid"),
         .text("0123456789abcdef0123456789abcdef0123"), .integer(0), .integer(1), .integer(7), .integer(-3),
         .float(1_764_950_400.123456789), .float(2.5), .integer(1_764_950_400)]
        + ["[]", #"["french"]"#, #"["french","vip"]"#, #"[""]"#, #"["é","日本"]"#, #"["a\"b"]"#, #"["a\/b"]"#,
           #"[ "a" ]"#, #"["a",]"#, #"["a""b"]"#, #"["a"#, "[", "]", #"{"a":1}"#, #"[1,2]"#, "[\"tab\there\"]"].map { .text($0) }
    }

    @Test func everyTypeReadsAsSQLiteKitReadsIt() throws {
        for value in values {
            try same(value, String.self); try same(value, String?.self)
            try same(value, UUID.self); try same(value, UUID?.self)
            try same(value, Int.self); try same(value, Int?.self)
            try same(value, Double.self); try same(value, Double?.self)
            try same(value, Bool.self); try same(value, Bool?.self)
            try same(value, Date.self); try same(value, Date?.self)
            try same(value, [String].self); try same(value, [String]?.self)
        }
    }

    @Test func listsOfPlainNamesAreReadAndWrittenDirectly() throws {
        #expect(SQLiteColumnValue.decode(.text(#"["french","vip"]"#), as: [String].self) == ["french", "vip"])
        #expect(SQLiteColumnValue.decode(.text("[]"), as: [String]?.self) == .some([]))
        #expect(SQLiteColumnValue.decode(.null, as: [String]?.self) == .some(nil))
        #expect(SQLiteColumnValue.decode(.text(#"["é","日本"]"#), as: [String].self) == ["é", "日本"])
        // Escapes, spaces and other JSON are left to sqlite-kit.
        #expect(SQLiteColumnValue.decode(.text(#"["a\"b"]"#), as: [String].self) == nil)
        #expect(SQLiteColumnValue.decode(.text(#"[ "a" ]"#), as: [String].self) == nil)
        let lists: [[String]] = [[], ["french"], ["french", "vip", "billing-eu_2"], [""], [UUID().text, UUID().text]]
        for list in lists {
            let direct = try #require(SQLiteColumnValue.encode(list), "\(list) is written directly")
            #expect(direct == (try SQLiteDataEncoder().encode(list)), "\(list)")
            let optional: [String]? = list
            #expect(SQLiteColumnValue.encode(optional) == direct)
            guard case .text(let text) = direct else { Issue.record("\(list) is not text"); continue }
            #expect(NameList.read(text) == list)
        }
        let none: [String]? = nil
        #expect(SQLiteColumnValue.encode(none) == .null)
        // Names JSON escapes, or writes as other bytes, are left to sqlite-kit's encoder.
        for list in [["a/b"], ["a\"b"], ["back\\slash"], ["é"], ["tab\t"]] {
            #expect(SQLiteColumnValue.encode(list) == nil, "\(list)")
        }
    }

    @Test func idsInEitherCaseAndNothingElse() {
        #expect(UUID(text: id.uuidString) == id)
        #expect(UUID(text: id.uuidString.lowercased()) == id)
        #expect(UUID(text: String(id.uuidString.dropLast()) + "G") == nil)
        #expect(UUID(text: id.uuidString.replacingOccurrences(of: "-", with: "_")) == nil)
        #expect(UUID(text: id.uuidString + "0") == nil)
        #expect(SQLiteColumnValue.decode(.text("x"), as: [String].self) == nil)
        #expect(SQLiteColumnValue.decode(.text("[]"), as: [Int].self) == nil)
        // The common forms are read directly (and so checked against sqlite-kit above).
        #expect(SQLiteColumnValue.decode(.text(id.uuidString), as: UUID?.self) == .some(id))
        #expect(SQLiteColumnValue.decode(.null, as: Date?.self) == .some(nil))
        #expect(SQLiteColumnValue.decode(.integer(1), as: Bool.self) == true)
        #expect(SQLiteColumnValue.decode(.integer(5), as: Int?.self) == .some(5))
        #expect(SQLiteColumnValue.decode(.float(2.5), as: Date.self) == Date(timeIntervalSince1970: 2.5))
    }

    @Test func bindsAreWrittenAsSQLiteKitWritesThem() throws {
        let optionalId: UUID? = id
        let values: [any Encodable] = ["plain", id, optionalId, 7, true, false, Date(timeIntervalSince1970: 1_764_950_400.5), 2.5]
        for value in values {
            let direct = try #require(SQLiteColumnValue.encode(value), "\(value) is written directly")
            #expect(direct == (try SQLiteDataEncoder().encode(value)), "\(value)")
        }
        let none: UUID? = nil, noDate: Date? = nil
        #expect(SQLiteColumnValue.encode(none) == .null && SQLiteColumnValue.encode(noDate) == .null)
        #expect(try SQLiteDataEncoder().encode(none) == .null)
        #expect(SQLiteColumnValue.encode([1, 2]) == nil)
        for _ in 0..<100 {
            let id = UUID()
            #expect(id.text == id.uuidString)
            #expect(UUID(text: id.text) == id)
        }
    }

    /// A call row of the writer's connection with the writer's columns is read by position; any other row by name,
    /// to the same call.
    @Test(arguments: [true, false])
    func aCallReadsTheSameByPositionAsByName(filled: Bool) throws {
        let now = Date(timeIntervalSince1970: 1_764_950_400.25)
        var call = CallRow(id: .timeOrdered(), clientId: "acme", teamId: filled ? UUID() : nil, agentId: filled ? UUID() : nil,
                           sector: "billing", capabilities: filled ? ["french", "vip"] : [], channel: .sms,
                           externalRef: filled ? "ext-1" : nil, idempotencyKey: filled ? "key-1" : nil,
                           status: filled ? .completed : .queued, createdAt: now)
        if filled {
            call.outcome = .successful; call.resolved = true; call.satisfaction = 4; call.handlingTimeSeconds = 90.5
            call.completedAt = now.addingTimeInterval(95); call.cancelledAt = now; call.updatedAt = now.addingTimeInterval(96)
            call.requiredCapabilities = ["french"]; call.requiredLevels = ["french": 3]; call.wrapUpUntil = now.addingTimeInterval(120)
            call.wrapUpEndedAt = now.addingTimeInterval(110); call.offerExpiresAt = now.addingTimeInterval(30)
            call.declinedBy = [UUID(), UUID()]; call.priority = 8; call.callbackPhone = "+14155550100"
            call.customerRef = "caller-7"; call.preferredAgentId = UUID(); call.preferredUntil = now.addingTimeInterval(20)
            call.talkSeconds = 80.25; call.talkEndedAt = now.addingTimeInterval(85)
        }
        let written = Dictionary(uniqueKeysWithValues: zip(CallRow.insertColumns, call.values).map { column, value in
            (column, SQLiteColumnValue.encode(value) ?? (try! SQLiteDataEncoder().encode(value)))
        }).merging(["client_id": .text(call.clientId)]) { $1 }
        let inOrder = InlineSQLiteRow(columns: CallRow.columns, values: CallRow.columns.map { written[$0]! })
        let reordered = InlineSQLiteRow(columns: CallRow.columns.reversed(), values: CallRow.columns.reversed().map { written[$0]! })
        #expect(CallRow.layout.positioned(inOrder) != nil)
        #expect(CallRow.layout.positioned(reordered) == nil)
        let byPosition = try CallRow(inOrder), byName = try CallRow(reordered)
        #expect(String(describing: byPosition) == String(describing: byName))
        #expect(String(describing: byPosition) == String(describing: call))
    }

    /// Where the direct reading answers, sqlite-kit answers the same; where sqlite-kit fails, it does not answer.
    private func same<D: Decodable & Equatable>(_ value: SQLiteData, _ type: D.Type,
                                                sourceLocation: SourceLocation = #_sourceLocation) throws {
        guard let direct = SQLiteColumnValue.decode(value, as: D.self) else { return }
        let expected = try #require(try? SQLiteDataDecoder().decode(D.self, from: value),
                                    "\(value) as \(D.self): read directly, refused by sqlite-kit", sourceLocation: sourceLocation)
        #expect(direct == expected, "\(value) as \(D.self)", sourceLocation: sourceLocation)
    }
}
