import Foundation

/// A CSV upload as a header and rows of named cells (RFC 4180: quoted fields may hold commas, quotes written twice
/// and line breaks; CRLF or LF; a UTF-8 byte-order mark is ignored). Pure: no I/O.
struct CSVTable: Sendable, Equatable {
    let header: [String]
    /// Each data row as header name → cell; rows that are entirely empty are skipped.
    let rows: [[String: String]]

    struct ParseError: Error, Equatable {
        let message: String
    }

    /// A bulk file has a handful of columns; a line with more is refused while it is read, before it costs more.
    static let maxColumns = 64

    static func parse(_ text: String, maxRows: Int, maxColumns: Int = CSVTable.maxColumns) throws -> CSVTable {
        var records = try records(of: text, maxCells: maxColumns)
        guard !records.isEmpty else { throw ParseError(message: "the CSV is empty: the first line must name the columns") }
        let header = records.removeFirst().map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        if let blank = header.firstIndex(of: "") {
            throw ParseError(message: "column \(blank + 1) of the header row has no name")
        }
        var named = Set<String>()
        if let repeated = header.first(where: { !named.insert($0).inserted }) {
            throw ParseError(message: "the header names '\(repeated)' twice")
        }
        var rows: [[String: String]] = []
        for (offset, record) in records.enumerated() {
            if record.allSatisfy(\.isEmpty) { continue }
            guard record.count == header.count else {
                throw ParseError(message: "line \(offset + 2) has \(record.count) cells; the header has \(header.count)")
            }
            rows.append(Dictionary(uniqueKeysWithValues: zip(header, record)))
            guard rows.count <= maxRows else { throw ParseError(message: "at most \(maxRows) rows in one request") }
        }
        return CSVTable(header: header, rows: rows)
    }

    /// The records of the text, each a list of at most `maxCells` cells.
    static func records(of text: String, maxCells: Int = CSVTable.maxColumns) throws -> [[String]] {
        var records: [[String]] = []
        var record: [String] = []
        var cell = ""
        var quoted = false
        var cellWasQuoted = false
        var scalars = text.unicodeScalars[...]
        if scalars.first == "\u{FEFF}" { scalars = scalars.dropFirst() }
        var iterator = scalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        func next() -> Unicode.Scalar? {
            if let scalar = pending { pending = nil; return scalar }
            return iterator.next()
        }
        func endRecord() {
            record.append(cell)
            records.append(record)
            record = []
            cell = ""
            cellWasQuoted = false
        }
        var sawAnything = false
        while let scalar = next() {
            sawAnything = true
            if quoted {
                if scalar == "\"" {
                    if let following = next() {
                        if following == "\"" { cell.unicodeScalars.append("\"") } else { quoted = false; pending = following }
                    } else {
                        quoted = false
                    }
                } else {
                    cell.unicodeScalars.append(scalar)
                }
                continue
            }
            switch scalar {
            case "\"":
                guard cell.isEmpty, !cellWasQuoted else {
                    throw ParseError(message: "line \(records.count + 1): a quote inside an unquoted cell (quote the whole cell and write \"\" for a quote)")
                }
                quoted = true
                cellWasQuoted = true
            case ",":
                guard record.count + 1 < maxCells else {
                    throw ParseError(message: "line \(records.count + 1) has more than \(maxCells) cells")
                }
                record.append(cell)
                cell = ""
                cellWasQuoted = false
            case "\r":
                if let following = next(), following != "\n" { pending = following }
                endRecord()
            case "\n":
                endRecord()
            default:
                guard !cellWasQuoted else {
                    throw ParseError(message: "line \(records.count + 1): text after a quoted cell's closing quote")
                }
                cell.unicodeScalars.append(scalar)
            }
        }
        if quoted { throw ParseError(message: "a quoted cell is not closed before the end of the CSV") }
        if sawAnything && (!cell.isEmpty || !record.isEmpty || cellWasQuoted) { endRecord() }
        return records
    }
}
