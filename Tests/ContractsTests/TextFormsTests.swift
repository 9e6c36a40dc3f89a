import Foundation
import Testing

@testable import ContractKit

/// The hand-written times and hex give Foundation's texts, byte for byte, wherever they answer.
struct TextFormsTests {
    /// The formatter the certificates role created per call before (`CertificateHandler.timestamp`).
    func milliseconds(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    /// Edges (the epoch, leap days, the turn of centuries, half a millisecond either side, the
    /// last millisecond of 9999) and 20,000 random instants, whole and fractional.
    func instants() -> [Double] {
        var generator = SystemRandomNumberGenerator()
        var values: [Double] = [
            0, 0.0004, 0.0005, 0.0009, 0.9994, 0.9995, 0.9999, 59.9995, 86_399.9996, 951_782_400, 951_868_799.9995,
            1_750_000_000.123, 1_750_000_000.0005, 4_107_542_399.9995, 253_402_300_799, 253_402_300_799.999,
        ]
        for _ in 0..<20_000 {
            let seconds = Double(Int64.random(in: 0..<253_402_300_800, using: &generator))
            values.append(
                Bool.random(using: &generator) ? seconds : seconds + Double.random(in: 0..<1, using: &generator))
        }
        return values
    }

    @Test func millisecondTimesAreISO8601DateFormattersTexts() {
        var compared = 0
        for seconds in instants() {
            let date = Date(timeIntervalSince1970: seconds)
            guard let text = UTCTimestamp.iso8601(date, milliseconds: true) else {
                // Only a rounding past 9999-12-31T23:59:59.999 has no four-digit year.
                #expect(milliseconds(date).hasPrefix("10000-"), "\(seconds)")
                continue
            }
            #expect(text == milliseconds(date), "\(seconds)")
            compared += 1
        }
        #expect(compared >= 20_000)
    }

    @Test func wholeSecondTimesAreJSONEncodersTexts() throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        for seconds in instants() {
            let date = Date(timeIntervalSince1970: seconds)
            let reference = String(decoding: try encoder.encode([date]), as: UTF8.self).dropFirst(2).dropLast(2)
            #expect(UTCTimestamp.iso8601(date) == String(reference), "\(seconds)")
        }
    }

    @Test func timesOutsideTheFourDigitYearsAreRefused() {
        for seconds in [-0.001, -1, -86_400 * 365.0, 253_402_300_800, 1e15, .infinity, -.infinity, .nan] {
            #expect(UTCTimestamp.iso8601(Date(timeIntervalSince1970: seconds)) == nil, "\(seconds)")
            #expect(UTCTimestamp.iso8601(Date(timeIntervalSince1970: seconds), milliseconds: true) == nil, "\(seconds)")
        }
    }

    @Test func hexIsFormattedHex() {
        var generator = SystemRandomNumberGenerator()
        #expect(Hex.lowercase([UInt8]()) == "")
        #expect(Hex.lowercase([0x00, 0x0f, 0xa0, 0xff]) == "000fa0ff")
        for _ in 0..<2_000 {
            let bytes = (0..<Int.random(in: 0...40, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(Hex.lowercase(bytes) == bytes.map { String(format: "%02x", $0) }.joined())
        }
    }
}
