import Foundation

extension UUID {
    /// A version 4 UUID from the system's CSPRNG (`getrandom`), for ids people read: the dashboard shows a call by the
    /// first eight characters of its id, which time-ordered ids of the same minute share. (Foundation's `UUID()` on
    /// Linux opens and reads /dev/urandom for every id.)
    static func random() -> UUID {
        var generator = SystemRandomNumberGenerator()
        var high = generator.next() as UInt64
        var low = generator.next() as UInt64
        high = (high & ~0xF000) | 0x4000  // version 4
        low = (low & ~(0xC000_0000_0000_0000 as UInt64)) | 0x8000_0000_0000_0000  // RFC 4122 variant
        return UUID(high: high, low: low)
    }

    /// A version 7 UUID (RFC 9562 §5.7): the Unix time in milliseconds, then 74 bits from the system's CSPRNG
    /// (`getrandom`). The ids of log rows written by the hundred (decisions, offers, audit and state rows, events)
    /// are keys of B-tree indexes on both databases; ids of the same moment land on the same few pages at the
    /// index's right edge, where random ids would each dirty a page of their own in every commit (a WAL frame on
    /// SQLite, an index page and its full-page image on PostgreSQL). The 74 random bits keep them unguessable.
    static func timeOrdered(at date: Date = Date()) -> UUID {
        var generator = SystemRandomNumberGenerator()
        let milliseconds = UInt64(max(0, (date.timeIntervalSince1970 * 1000).rounded(.down))) & 0xFFFF_FFFF_FFFF
        let random = generator.next() as UInt64, more = generator.next() as UInt64
        let high = milliseconds << 16 | 0x7000 | (random & 0x0FFF)  // version 7, then 12 random bits
        let low = (more & ~(0xC000_0000_0000_0000 as UInt64)) | 0x8000_0000_0000_0000  // RFC variant, 62 random bits
        return UUID(high: high, low: low)
    }

    private init(high: UInt64, low: UInt64) {
        let h = high.bigEndian, l = low.bigEndian
        self = withUnsafeBytes(of: (h, l)) { bytes in
            UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                        bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
        }
    }
}
