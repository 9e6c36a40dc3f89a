import ContractKit
import Contracts
import Crypto
import Foundation
import Jobs
import Programme
import Senders
import Stores
import Synchronization
import TestSupport
import Testing

@testable import Workers

/// The templates, the calendar and quiet hours.
struct NotificationTemplateTests {
    static let directory = repositoryFile("config/notifications")

    /// The texts are trimmed by hand now: exactly as Foundation's `.whitespacesAndNewlines`
    /// trims, for every scalar of the Basic Multilingual Plane at either end (and a combining mark
    /// after a space).
    @Test func aTextIsTrimmedAsFoundationTrimsIt() {
        for value in 0...0xFFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            let edge = String(Character(scalar))
            for text in [edge + "Yth. a" + edge, edge + edge, "x" + edge + "\u{301}", edge + "\u{301}b"] {
                #expect(
                    NotificationTemplates.trimmed(text) == text.trimmingCharacters(in: .whitespacesAndNewlines),
                    "U+\(String(value, radix: 16))")
            }
        }
    }

    /// The idempotency key of a message on a channel never changes across versions (a repeat
    /// after an upgrade must carry the key its first send had): SHA-256 of the id and channel,
    /// the first 16 bytes in lowercase hex after `ntf-`.
    @Test func theIdempotencyKeyKeepsItsForm() {
        for (id, channel) in [("submitted-1:pendaftaran_diterima", NotificationChannel.sms), ("x", .whatsApp), ("", .email)] {
            let digest = SHA256.hash(data: Data("\(id)|\(channel.rawValue)".utf8))
            let expected = "ntf-" + digest.prefix(16).map { String(format: "%02x", $0) }.joined()
            #expect(NotificationDispatcher.idempotencyKey(id, channel) == expected)
        }
        #expect(NotificationDispatcher.idempotencyKey("a", .sms) == "ntf-1f87de4b8ffbddf5bbf102e0df37202b", "pinned")
    }

    /// A template's fields are its value type's keys (written once) and the greeting's name;
    /// flags become the `true`/`false` that sections read.
    @Test func aTemplatesFieldsAreItsValueTypesKeysAndFlagsBecomeSections() throws {
        #expect(
            NotificationTemplates.fields["memenuhi_syarat"]
                == ["nama", "no_pendaftaran", "no_peserta", "program", "blki", "minat_magang"])
        #expect(NotificationTemplates.fields.count == 16, "one value type per event template")
        let values = EventTemplates.RegistrationEligible(
            registrationNumber: "REG-1", participantNumber: "PST-1", programme: "Tata Graha", centre: "BLKI Bontang",
            apprenticeshipInterest: true)
        #expect(
            try values.parameters()
                == [
                    "no_pendaftaran": "REG-1", "no_peserta": "PST-1", "program": "Tata Graha", "blki": "BLKI Bontang",
                    "minat_magang": "true",
                ])
        // A text that reads "true" stays text.
        let text = EventTemplates.RegistrationRejected(registrationNumber: "true", reasons: "false")
        #expect(try text.parameters() == ["no_pendaftaran": "true", "alasan": "false"])
        // Every shipped value type gives its keys, and a value that is neither text nor a flag
        // is refused rather than written some other way.
        #expect(
            try EventTemplates.RegistrationReceived(
                registrationNumber: "R", programme: "P", centre: "B", maskedNIK: "N"
            ).parameters().keys.sorted() == ["blki", "nik_tersamar", "no_pendaftaran", "program"])
        #expect(throws: EncodingError.self) { try Counted(count: 3).parameters() }
        #expect(throws: EncodingError.self) { try Nested(inner: "x").parameters() }
    }

    /// A value type whose own `encode(to:)` writes a null and a nested value: both refused, not
    /// dropped.
    private struct Nested: TemplateValues {
        static let template = "bersarang"
        typealias Field = CodingKeys
        let inner: String
        enum CodingKeys: String, CodingKey, CaseIterable { case inner = "dalam" }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            do {
                try container.encodeNil(forKey: .inner)
                Issue.record("a null was taken")
            } catch is EncodingError {}
            var nested = container.nestedContainer(keyedBy: CodingKeys.self, forKey: .inner)
            try nested.encode(inner, forKey: .inner)
        }
    }

    /// The row's values and routes are written by hand: `JSONDecoder` reads back exactly what
    /// went in, quotes, backslashes, every control character, slashes and letters beyond ASCII
    /// included, and plain values (lowercase keys, no slash) come out as `JSONEncoder` with
    /// sorted keys writes them.
    @Test func theRowsValuesAndRoutesAreJSONThatReadsBackTheSame() throws {
        let awkward = (0..<32).map { String(UnicodeScalar(UInt8($0))) }.joined() + #"" \ / é 🇮🇩 \u0041 </script>"#
        let values = ["nama": awkward, "no_pendaftaran": "REG-1", awkward: "kunci aneh", "": ""]
        let decoded = try JSONDecoder().decode([String: String].self, from: Data(FlatJSON.object(values).utf8))
        #expect(decoded == values)
        let routes = [
            NotificationHandler.Route(channel: .whatsApp, recipient: "+6281250000001"),
            NotificationHandler.Route(channel: .email, recipient: awkward),
        ]
        let read = try JSONDecoder().decode([NotificationHandler.Route].self, from: Data(FlatJSON.routes(routes).utf8))
        #expect(read == routes && FlatJSON.routes([]) == "[]" && FlatJSON.object([:]) == "{}")
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let plain = ["program": "Tata Graha", "blki": "BLKI Bontang", "ada_alamat": "true"]
        #expect(FlatJSON.object(plain) == String(decoding: try encoder.encode(plain), as: UTF8.self))
        #expect(FlatJSON.routes([routes[0]]) == String(decoding: try encoder.encode([routes[0]]), as: UTF8.self))
        // Random texts of quotes, backslashes, control characters and letters of one to four
        // UTF-8 bytes read back whole.
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("a\"\\/\n\r\t\u{0}\u{1f}\u{7f}é€😀🇮🇩\u{2028}") + ["\u{8}", "\u{c}"]
        for _ in 0..<2_000 {
            let text = String(
                (0..<Int.random(in: 0...24, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
            let values = [text: text, "nama": text + "x"]
            #expect(try JSONDecoder().decode([String: String].self, from: Data(FlatJSON.object(values).utf8)) == values)
            let route = [NotificationHandler.Route(channel: .sms, recipient: text)]
            #expect(try JSONDecoder().decode([NotificationHandler.Route].self, from: Data(FlatJSON.routes(route).utf8)) == route)
        }
    }

    /// The row's values and routes are read by hand too: for every input, what the reader
    /// gives is what `JSONDecoder` gives (empty where it reads nothing): what `FlatJSON` and
    /// `JSONEncoder` wrote, escapes of every kind, white space, and broken, duplicated, nested,
    /// numeric and truncated JSON, and thousands of copies with one byte changed.
    @Test func theRowsValuesAndRoutesReadBackAsJSONDecoderReadsThem() throws {
        func decoded(_ json: String) -> [String: String] {
            (try? JSONDecoder().decode([String: String].self, from: Data(json.utf8))) ?? [:]
        }
        func decodedRoutes(_ json: String) -> [NotificationHandler.Route] {
            (try? JSONDecoder().decode([NotificationHandler.Route].self, from: Data(json.utf8))) ?? []
        }
        let awkward = (0..<32).map { String(UnicodeScalar(UInt8($0))) }.joined() + #"" \ / é 🇮🇩 \u0041 </script>"#
        let values = ["nama": awkward, "no_pendaftaran": "REG-1", awkward: "kunci aneh", "": ""]
        let encoder = JSONEncoder()
        let valid = [
            FlatJSON.object(values), FlatJSON.object([:]), String(decoding: try encoder.encode(values), as: UTF8.self),
            #" { "a" : "b" , "c":"\/\"\\\b\f\n\r\t\u0041\u00e9\ud83c\uddee\ud83c\udde9" } "#, #"{"nama":"Siti"}"#,
        ]
        for json in valid {
            let read = try #require(FlatJSON.readObject(json), "read by hand: \(json)")
            #expect(read == decoded(json) && !read.isEmpty || json.contains("{}"), "\(json)")
            #expect(FlatJSON.values(json) == decoded(json))
        }
        let broken = [
            #"{"a":"b","a":"c"}"#, #"{"a":1}"#, #"{"a":{"b":"c"}}"#, #"{"a":null}"#, #"{"a":"b""#, #"{"a":"b",}"#,
            #"{"a":"\ud800"}"#, #"{"a":"\udc00x"}"#, #"{"a":"\x"}"#, #"{"a":"\u12"}"#, "{\"a\":\"\u{01}\"}", "", "null",
            "[]", #"{"a":"b"} x"#, #"{"a" "b"}"#, "\u{FEFF}{}", #"{"a":"\ud83d \ude00"}"#, "{\"a\":\"\\ud83d\n\\ude00\"}",
        ]
        for json in broken { #expect(FlatJSON.values(json) == decoded(json), "\(json)") }
        let routes = [
            NotificationHandler.Route(channel: .whatsApp, recipient: "+6281250000001"),
            NotificationHandler.Route(channel: .email, recipient: awkward),
        ]
        let routeInputs = [
            FlatJSON.routes(routes), "[]", " [ ] ", String(decoding: try encoder.encode(routes), as: UTF8.self),
            #"[{"recipient":"+62812","channel":"SMS"}]"#, #"[{"channel":"FAX","recipient":"1"}]"#,
            #"[{"channel":"SMS","recipient":"1","extra":"x"}]"#, #"[{"channel":"SMS"}]"#,
            #"[{"channel":"SMS","recipient":"1"},]"#,
            "[", #"{"channel":"SMS","recipient":"1"}"#,
        ]
        for json in routeInputs { #expect(FlatJSON.routes(reading: json) == decodedRoutes(json), "\(json)") }
        #expect(FlatJSON.readRoutes(FlatJSON.routes(routes)) == routes)
        // One byte changed, everywhere in each valid input, to each JSON-significant byte.
        var mutants = 0
        for json in valid + routeInputs {
            let bytes = Array(json.utf8)
            for position in bytes.indices {
                for replacement in Array(#"{}[]",:\"u/ 0aD"#.utf8) {
                    var mutant = bytes
                    mutant[position] = replacement
                    let text = String(decoding: mutant, as: UTF8.self)
                    #expect(FlatJSON.values(text) == decoded(text), "\(text)")
                    #expect(FlatJSON.routes(reading: text) == decodedRoutes(text), "\(text)")
                    mutants += 1
                }
            }
        }
        #expect(mutants > 5_000)
    }

    /// A value type with a number: not a template's kind of value.
    private struct Counted: TemplateValues {
        static let template = "hitung"
        typealias Field = CodingKeys
        let count: Int
        enum CodingKeys: String, CodingKey, CaseIterable { case count = "jumlah" }
    }

    @Test func theShippedTemplatesLoadAndRenderInBahasaIndonesia() throws {
        let templates = try NotificationTemplates(directory: Self.directory)
        #expect(Set(NotificationTemplates.fields.keys).isSubset(of: Set(templates.templates.keys)))
        let base = [
            "nama": "Siti Rahmawati", "no_peserta": "PST-1", "skema": "Tata Graha (SKM-2025-HTL-TGR)", "program": "Tata Graha",
            "tanggal": "12 Agustus 2025", "lsp": "BNSP-LSP-0123-ID", "hasil_pelatihan": "LULUS", "ada_hasil_pelatihan": "true",
            "lulus_pelatihan": "true",
            "kehadiran": "90%", "unit_belum_kompeten": "I.55HDR00.001.2", "jenis_uji": "uji kompetensi",
            "uji_ulang_tersedia": "false", "batas_uji_tercapai": "false", "uji_ulang_belum_diketahui": "false",
            "batas_uji": "3",
        ]
        let competent = try templates.render(
            "hasil_uji_kompetensi", base.merging(["hasil": "KOMPETEN", "kompeten": "true"]) { $1 })
        #expect(competent.subject == "Hasil uji kompetensi Tata Graha: KOMPETEN")
        #expect(competent.text.contains("Yth. Siti Rahmawati") && competent.text.contains("Sertifikat Anda akan kami kirimkan"))
        #expect(!competent.text.contains("banding"))
        let notYet = try templates.render(
            "hasil_uji_kompetensi",
            base.merging(["hasil": "BELUM KOMPETEN", "kompeten": "false", "uji_ulang_tersedia": "true"]) { $1 })
        #expect(notYet.text.contains("Unit yang belum kompeten: I.55HDR00.001.2") && notYet.text.contains("banding"))
        #expect(
            notYet.text.contains("Anda dapat mengikuti uji ulang") && notYet.text.contains("paling banyak 3 kali uji per unit"))
        #expect(!notYet.text.contains("&"), "plain text, no HTML escaping")
        // After the last attempt the message must not offer an uji ulang.
        let lastAttempt = try templates.render(
            "hasil_uji_kompetensi",
            base.merging([
                "hasil": "BELUM KOMPETEN", "kompeten": "false", "batas_uji_tercapai": "true", "jenis_uji": "uji ulang",
            ]) { $1 })
        #expect(lastAttempt.subject == "Hasil uji ulang Tata Graha: BELUM KOMPETEN")
        #expect(lastAttempt.text.contains("uji ulang tidak dapat diikuti lagi"))
        #expect(!lastAttempt.text.contains("Anda dapat mengikuti uji ulang"))
        // An older event that does not say whether an attempt is left promises nothing.
        let unknown = try templates.render(
            "hasil_uji_kompetensi",
            base.merging(["hasil": "BELUM KOMPETEN", "kompeten": "false", "uji_ulang_belum_diketahui": "true"]) { $1 })
        #expect(unknown.text.contains("Tanyakan kesempatan uji ulang atau banding"))
        #expect(!unknown.text.contains("Anda dapat mengikuti uji ulang") && !unknown.text.contains("tidak dapat diikuti lagi"))
        #expect(throws: NotificationTemplateError.self) { try templates.render("hasil_uji_kompetensi", ["nama": "X"]) }
        let appeal = [
            "nama": "Siti Rahmawati", "no_peserta": "PST-1", "skema": "Tata Graha (SKM-2025-HTL-TGR)", "program": "Tata Graha",
            "tanggal": "20 Agustus 2025", "lsp": "LSP Kompetensi Kaltim", "status": "DITOLAK", "diajukan": "false",
            "diterima": "false", "ditolak": "true", "uji_ulang_tersedia": "false",
        ]
        let dismissed = try templates.render("banding", appeal)
        #expect(dismissed.subject == "Banding uji kompetensi Tata Graha: DITOLAK")
        #expect(
            dismissed.text.contains("DITOLAK oleh LSP Kompetensi Kaltim pada 20 Agustus 2025; hasil BELUM KOMPETEN tetap berlaku")
        )
        #expect(dismissed.text.contains("Batas uji ulang sudah tercapai") && !dismissed.text.contains("diproses"))
        let filed = try templates.render(
            "banding", appeal.merging(["status": "DIPROSES", "diajukan": "true", "ditolak": "false"]) { $1 })
        #expect(
            filed.text.contains("sedang diproses oleh LSP Kompetensi Kaltim") && !filed.text.contains("DITOLAK")
                && !filed.text.contains("Batas"))
    }

    @Test func aTemplateNamingAFieldItsEventLacksStopsStartUp() throws {
        var texts = try Self.shippedTexts()
        texts["lulus_seleksi"] = "subject: Jadwal\n---\nYth. {{nama}}, kelas dimulai {{tanggal_mulai}} di {{ruang_kelas}}."
        #expect {
            try NotificationTemplates(texts: texts)
        } throws: { error in
            let error = try #require(error as? NotificationTemplateError)
            return error.file.hasSuffix("lulus_seleksi.txt") && error.problem.contains("ruang_kelas")
        }
    }

    @Test func aMissingOrMalformedTemplateStopsStartUp() throws {
        var texts = try Self.shippedTexts()
        texts.removeValue(forKey: "sertifikat_terbit")
        #expect {
            try NotificationTemplates(texts: texts)
        } throws: { ($0 as? NotificationTemplateError)?.file.hasSuffix("sertifikat_terbit.txt") == true }
        texts = try Self.shippedTexts()
        texts["daftar_tunggu"] = "subject: x\n---\n{{#posisi}} never closed"
        #expect(throws: NotificationTemplateError.self) { try NotificationTemplates(texts: texts) }
        texts["daftar_tunggu"] = "no header separator"
        #expect(throws: NotificationTemplateError.self) { try NotificationTemplates(texts: texts) }
        texts = try Self.shippedTexts()
        texts["daftar_tunggu.fax"] = "subject: x\n---\n{{nama}}"
        #expect(throws: NotificationTemplateError.self) { try NotificationTemplates(texts: texts) }
        texts = try Self.shippedTexts()
        texts["daftar_tunggu.sms"] = "subject: x\n---\n{{nama}} {{kode_kelas}}"
        #expect {
            try NotificationTemplates(texts: texts)
        } throws: { ($0 as? NotificationTemplateError)?.problem.contains("kode_kelas") == true }
    }

    @Test func datesAreIndonesianAndQuietHoursSpanMidnightInWITA() throws {
        #expect(IndonesianCalendar.date("2025-07-07") == "7 Juli 2025")
        #expect(IndonesianCalendar.weekday("2025-07-07") == "Senin")
        let quiet = try #require(QuietHours("21:00-07:00"))
        func wita(_ text: String) -> Date { ISO8601DateFormatter().date(from: text + "+08:00")! }
        #expect(quiet.contains(wita("2025-07-07T22:30:00")))
        #expect(quiet.contains(wita("2025-07-08T06:59:00")))
        #expect(!quiet.contains(wita("2025-07-08T07:00:00")))
        #expect(!quiet.contains(wita("2025-07-07T12:00:00")))
        #expect(quiet.end(after: wita("2025-07-07T22:30:00")) == wita("2025-07-08T07:00:00"))
        #expect(quiet.end(after: wita("2025-07-08T03:10:00")) == wita("2025-07-08T07:00:00"))
        #expect(QuietHours("25:00-07:00") == nil && QuietHours("night") == nil)
    }

    static func shippedTexts() throws -> [String: String] {
        var texts: [String: String] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: directory) where file.hasSuffix(".txt") {
            texts[String(file.dropLast(4))] = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
        }
        return texts
    }
}

/// The handler and the dispatcher against a real HTTP gateway and a real SMTP server on
/// loopback, with a clock the test moves.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct NotificationDeliveryTests {
    final class Clock: Sendable {
        let now: Mutex<Date>
        init(_ date: Date) { now = Mutex(date) }
        func set(_ date: Date) { now.withLock { $0 = date } }
        var date: Date { now.withLock { $0 } }
    }

    static func noon() -> Date { ISO8601DateFormatter().date(from: "2025-07-07T12:00:00+08:00")! }

    static func rig(
        senders: [NotificationChannel: any MessageSender], clock: Clock, doorbell: Doorbell = Doorbell(),
        outbox: (any OutboxPublishing)? = nil, configure: (inout DispatcherOptions) -> Void = { _ in }
    ) async throws -> (HandlerTestKit, NotificationDispatcher) {
        let templates = try NotificationTemplates(directory: NotificationTemplateTests.directory)
        let catalogue = try ProgrammeCatalogue.load(path: repositoryFile("config/programme-2025.json"))
        let kit = try await HandlerTestKit(
            handler: NotificationHandler(templates: templates, catalogue: catalogue, verificationBaseURL: "https://v.example/c"),
            registry: .pipeline)
        var options = DispatcherOptions()
        options.backoff = [.seconds(1)]
        configure(&options)
        let dispatcher = NotificationDispatcher(
            store: kit.store, templates: templates, senders: senders, options: options, instance: "test",
            now: { clock.date }, doorbell: doorbell, outbox: outbox)
        return (kit, dispatcher)
    }

    static func submitted(_ index: Int, whatsApp: String? = nil, phone: String? = nil, email: String? = nil)
        -> EventEnvelope<RegistrationSubmittedV2>
    {
        EventEnvelope(
            id: "submitted-\(index)", source: "/test",
            data: RegistrationSubmittedV2(
                registrationID: "REG-\(index)", nik: "6471054107990003", familyCardNumber: nil, fullName: "Peserta \(index)",
                birthPlace: "Balikpapan", birthDate: "1999-07-01", sex: .female,
                phone: phone ?? String(format: "+6281250%06d", index), whatsApp: whatsApp, email: email,
                domicile: Domicile(regionCode: "6471051001", address: "Jl. Contoh 1"), education: .smk,
                employmentStatus: .unemployed, jobSeekerCardNumber: nil, preferredCentre: .balikpapan, programme: "TATA_GRAHA",
                secondChoiceProgramme: nil, apprenticeshipInterest: false, declaredTrainings: [],
                consent: Consent(given: true, givenAt: "2025-03-03T01:14:10Z", textVersion: "pdp-2025-01")))
    }

    static func scheduled(_ index: Int) -> EventEnvelope<ClassScheduledV2> {
        EventEnvelope(
            id: "scheduled-\(index)", source: "/test",
            data: ClassScheduledV2(
                participantID: "PST-\(index)", classID: "BPN-TGR-01", centre: .balikpapan, programme: "TATA_GRAHA", cohort: 1,
                startDate: "2025-07-07", endDate: "2025-08-08", seat: 1,
                reRegistration: DateWindow(from: "2025-06-30", until: "2025-07-02"), replacing: false))
    }

    static func accepted(_ index: Int) -> EventEnvelope<RegistrationAcceptedV1> {
        EventEnvelope(
            id: "accepted-\(index)", source: "/test",
            data: RegistrationAcceptedV1(
                registrationID: "REG-\(index)", participantID: "PST-\(index)", centre: .balikpapan, programme: "TATA_GRAHA",
                priorityTier: .neverTrained, priorityReasons: [], apprenticeshipInterest: true))
    }

    /// A BLKI's training result names a class: one for a class the participant has no seat in
    /// (another BLKI's class, sent by that BLKI) is refused and not told; the result for their
    /// own class is.
    @Test func aTrainingResultIsToldOnlyForTheClassTheParticipantSitsIn() async throws {
        let (kit, _) = try await Self.rig(senders: [:], clock: Clock(Self.noon()))
        _ = try await kit.deliver(Self.submitted(1))
        _ = try await kit.deliver(Self.accepted(1))
        _ = try await kit.deliver(
            EventEnvelope(
                id: "seat-1", source: "/test",
                data: ClassScheduledV2(
                    participantID: "PST-1", classID: "BPN-2025-TATA_GRAHA-01", centre: .balikpapan, programme: "TATA_GRAHA",
                    cohort: 1, startDate: "2025-07-07", endDate: "2025-08-08", seat: 1, reRegistration: nil, replacing: false)))
        func result(_ id: String, classID: String) -> EventEnvelope<TrainingCompletedV1> {
            EventEnvelope(
                id: id, source: "/test",
                data: TrainingCompletedV1(
                    participantID: "PST-1", classID: classID, attendancePercent: 95, result: .failed, recordedBy: "Staf"))
        }
        await #expect {
            _ = try await kit.deliver(result("t-other", classID: "BTG-2025-TATA_GRAHA-01"))
        } throws: { ($0 as? Failure)?.code == .invalidTrainingResult && ($0 as? Failure)?.kind == .permanent }
        #expect(try await kit.query("SELECT 1 FROM notif_messages WHERE template = 'hasil_pelatihan'").isEmpty)
        _ = try await kit.deliver(result("t-own", classID: "BPN-2025-TATA_GRAHA-01"))
        #expect(try await kit.query("SELECT 1 FROM notif_messages WHERE template = 'hasil_pelatihan'").count == 1)
    }

    /// Anyone can submit registrations naming someone else's number or address: in a day, ten
    /// acknowledgements reach it and the rest are held back (a row with no values and no
    /// address), however the address is spelt, even after the registrations' contacts are
    /// gone. A message the person must act on is never held; another number is not affected;
    /// a day later, acknowledgements go out again.
    @Test func registrationsNamingOneAddressSendItAtMostTenAcknowledgementsADay() async throws {
        let clock = Clock(Self.noon())
        let templates = try NotificationTemplates(directory: NotificationTemplateTests.directory)
        let catalogue = try ProgrammeCatalogue.load(path: repositoryFile("config/programme-2025.json"))
        let kit = try await HandlerTestKit(
            handler: NotificationHandler(
                templates: templates, catalogue: catalogue, verificationBaseURL: "https://v.example/c", now: { clock.date }),
            registry: .pipeline)
        func states() async throws -> [String: String] {
            let rows = try await kit.query(
                "SELECT registration_id, state FROM notif_messages WHERE template = 'pendaftaran_diterima'")
            return Dictionary(uniqueKeysWithValues: rows.map { ($0["registration_id"]?.text ?? "", $0["state"]?.text ?? "") })
        }
        let victim = "+6281299990000"
        for index in 1...6 { _ = try await kit.deliver(Self.submitted(index, phone: victim)) }
        // The same number as WhatsApp, beside a number of its own.
        for index in 7...12 { _ = try await kit.deliver(Self.submitted(index, whatsApp: victim)) }
        var held = try await states()
        #expect((1...10).allSatisfy { held["REG-\($0)"] == "pending" }, "\(held)")
        #expect(held["REG-11"] == "limited" && held["REG-12"] == "limited", "\(held)")
        let rows = try await kit.query("SELECT routes, parameters FROM notif_messages WHERE state = 'limited'")
        #expect(rows.count == 2 && rows.allSatisfy { $0["routes"]?.text == "[]" && $0["parameters"]?.text == "{}" })
        // A message to act on goes out to the same number.
        _ = try await kit.deliver(
            EventEnvelope(
                id: "review-11", source: "/test",
                data: RegistrationReviewNeededV1(
                    registrationID: "REG-11", reasons: [RegistrationReason(code: "NIK_REVIEW", message: "Diperiksa petugas.")])))
        let review = try await kit.query(
            "SELECT state FROM notif_messages WHERE registration_id = 'REG-11' AND template <> 'pendaftaran_diterima'")
        #expect(review.map { $0["state"]?.text } == ["pending"])
        // An e-mail address however it is spelt: one mailbox.
        for index in 21...31 {
            let email = index.isMultiple(of: 2) ? "Victim+\(index)@Example.ID" : "victim@example.id"
            _ = try await kit.deliver(Self.submitted(index, phone: "+62813000000\(index)", email: email))
        }
        held = try await states()
        #expect(held["REG-31"] == "limited" && (21...30).allSatisfy { held["REG-\($0)"] == "pending" }, "\(held)")
        // Withdrawals of consent delete the contacts, and the count stays.
        for index in 1...6 {
            _ = try await kit.deliver(
                EventEnvelope(
                    id: "withdrawn-\(index)", source: "/test",
                    data: ConsentWithdrawnV1(
                        registrationID: "REG-\(index)", withdrawnBy: .applicant, withdrawnAt: "2025-07-07T04:00:00Z",
                        recordedBy: "Portal", reference: "W-\(index)")))
        }
        _ = try await kit.deliver(Self.submitted(40, phone: victim))
        #expect(try await states()["REG-40"] == "limited")
        // Another number is not affected; a day later the victim's number gets one again.
        _ = try await kit.deliver(Self.submitted(41))
        #expect(try await states()["REG-41"] == "pending")
        clock.set(Self.noon().addingTimeInterval(86_401))
        _ = try await kit.deliver(Self.submitted(42, phone: victim))
        #expect(try await states()["REG-42"] == "pending")
        // The dispatcher deletes the counts older than a day.
        let dispatcher = NotificationDispatcher(
            store: kit.store, templates: templates, senders: [:], options: DispatcherOptions(), instance: "test",
            now: { clock.date })
        let before = try await kit.query("SELECT COUNT(*) AS n FROM notif_address_load").first?["n"]?.integer ?? 0
        await dispatcher.purgeAddressLoad()
        let after = try await kit.query("SELECT COUNT(*) AS n FROM notif_address_load").first?["n"]?.integer ?? 0
        #expect(before > 1 && after == 1, "only the count of the last day (REG-42's) is left: \(before) → \(after)")
    }

    @Test func eachEventIsSentOnceThroughTheGatewayWithItsIdempotencyKeyEvenWhenRedeliveredOrReplayed() async throws {
        let gateway = try await TestGateway.start()
        let clock = Clock(Self.noon())
        let (kit, dispatcher) = try await Self.rig(
            senders: [
                .whatsApp: HTTPGatewaySender(url: gateway.url, token: "secret"),
                .sms: HTTPGatewaySender(url: gateway.url, token: "secret"),
            ],
            clock: clock)
        for index in 0..<5 {
            _ = try await kit.deliver(Self.submitted(index, whatsApp: index == 0 ? "+628110000000" : nil))
            _ = try await kit.deliver(Self.accepted(index))
            _ = try await kit.deliver(Self.scheduled(index))
        }
        // A redelivery (same message id) queues nothing new.
        #expect(try await kit.deliver(Self.scheduled(0)).duplicate)
        while await dispatcher.runOnce() > 0 {}
        #expect(gateway.accepted.count == 15)
        #expect(Set(gateway.accepted.values).count == 15, "one send per event and template")
        let first = try #require(gateway.requests.values.first { $0.to == "+628110000000" })
        #expect(first.channel == "WHATSAPP" && first.authorization == "Bearer secret" && first.headerKey == first.key)
        #expect(first.key.hasPrefix("ntf-") && !first.key.contains("6471"))
        let schedule = try #require(
            gateway.requests.values.first { $0.text.contains("LULUS seleksi") && $0.to != "+628110000000" })
        // SMS has its own, shorter wording (lulus_seleksi.sms.txt); WhatsApp the full one. The
        // class is named by programme and dates, never by its id; the times come from the plan.
        #expect(schedule.text.contains("Mulai Senin, 7 Juli 2025 pkl 08.00 WITA"), "\(schedule.text)")
        #expect(schedule.text.contains("Daftar ulang 30 Juni 2025 s.d. 2 Juli 2025 pkl 08.00-15.00"), "\(schedule.text)")
        // At most two segments of a concatenated SMS (153 characters each), in GSM-7 (ASCII here).
        #expect(schedule.channel == "SMS" && schedule.text.count <= 306, "\(schedule.text.count): \(schedule.text)")
        #expect(schedule.text.unicodeScalars.allSatisfy { $0.isASCII }, "\(schedule.text)")
        let whatsApp = try #require(
            gateway.requests.values.first { $0.text.contains("LULUS seleksi") && $0.to == "+628110000000" })
        #expect(whatsApp.text.contains("Senin, 7 Juli 2025 s.d."), "\(whatsApp.text)")
        #expect(whatsApp.text.contains("hari pertama mulai pukul 08.00 WITA"), "\(whatsApp.text)")
        #expect(whatsApp.text.contains("Jl. Sepinggan Baru, Kec. Balikpapan Selatan"), "\(whatsApp.text)")
        #expect(whatsApp.text.contains("Daftar ulang: 30 Juni 2025 s.d. 2 Juli 2025, pukul 08.00-15.00 WITA"), "\(whatsApp.text)")
        #expect(!gateway.requests.values.contains { $0.text.contains("BPN-TGR-01") }, "no internal class id in a text")
        let eligible = try #require(gateway.requests.values.first { $0.text.contains("memenuhi syarat administrasi") })
        #expect(!eligible.text.contains("LULUS"), "acceptance is eligibility, not the selection: \(eligible.text)")
        let receipt = try #require(gateway.requests.values.first { $0.text.contains("telah kami terima") })
        #expect(receipt.text.contains("NIK: ************0003") && !receipt.text.contains("6471054107990003"))

        // More rounds, a replayed event and a redelivered one: nothing is sent again.
        _ = try await kit.deliver(Self.scheduled(1))
        while await dispatcher.runOnce() > 0 {}
        #expect(gateway.requests.count == 15)
        let states = try await kit.query("SELECT state, COUNT(*) AS n FROM notif_messages GROUP BY state")
        #expect(states.count == 1 && states.first?["state"]?.text == "sent" && states.first?["n"]?.integer == 15)
        let delivered = try await kit.store.unpublished(limit: 100, createdBefore: .distantFuture)
        #expect(delivered.count == 15 && delivered.allSatisfy { $0.event.type == "notification.delivered" })
        #expect(dispatcher.statistics.sent == 15)
        await gateway.stop()
    }

    /// What a job seeker reads says what happened, in words they understand: no training
    /// result the event did not carry, the LSP by its name, a revocation's reason in Bahasa
    /// Indonesia, an officer's request for documents with its deadline.
    @Test func messagesSayOnlyWhatTheEventCarriesInWordsAJobSeekerUnderstands() async throws {
        let gateway = try await TestGateway.start()
        let (kit, dispatcher) = try await Self.rig(
            senders: [.sms: HTTPGatewaySender(url: gateway.url, token: nil)], clock: Clock(Self.noon()))
        _ = try await kit.deliver(Self.submitted(7))
        _ = try await kit.deliver(Self.accepted(7))
        _ = try await kit.deliver(
            EventEnvelope(
                id: "graded-v1", source: "/test",
                data: AssessmentGradedV1(
                    assessmentID: "A-1", participantID: "PST-7", scheme: "SKM-2025-HTL-TGR", outcome: .notYetCompetent,
                    notYetCompetentUnits: ["I.55HDR00.001.2"])))
        _ = try await kit.deliver(
            EventEnvelope(
                id: "graded-v2", source: "/test",
                data: AssessmentGradedV2(
                    assessmentID: "A-2", participantID: "PST-7", scheme: "SKM-2025-HTL-TGR", outcome: .notYetCompetent,
                    notYetCompetentUnits: ["I.55HDR00.001.2"], lspLicence: "BNSP-LSP-0123-ID", assessedOn: "2025-08-12",
                    attendancePercent: 92, trainingOutcome: .passed, supersedes: nil, lspCertificateNumber: nil,
                    lspRegistrationNumber: nil)))
        _ = try await kit.deliver(
            EventEnvelope(
                id: "issued-7", source: "/test",
                data: CertificateIssuedV1(
                    certificateID: "CERT-INTERNAL-7", participantID: "PST-7", kind: .training, issuer: "BLKI Balikpapan",
                    certificateNumber: "BPN/2025/PEL/00007", registrationNumber: nil, scheme: nil, issuedOn: "2025-08-20",
                    validUntil: nil, verificationCode: "WXYZ-1234")))
        _ = try await kit.deliver(
            EventEnvelope(
                id: "revoked-7", source: "/test",
                data: CertificateRevokedV1(
                    certificateID: "CERT-INTERNAL-7", participantID: "PST-7", reasonCode: "ASSESSMENT_CORRECTED")))
        // A reissue under a corrected name: the revocation waits for its replacement (the same
        // number under another id), then says one follows.
        _ = try await kit.deliver(
            EventEnvelope(
                id: "issued-8", source: "/test",
                data: CertificateIssuedV1(
                    certificateID: "CERT-INTERNAL-8", participantID: "PST-7", kind: .training, issuer: "BLKI Balikpapan",
                    certificateNumber: "BPN/2025/PEL/00008", registrationNumber: nil, scheme: nil, issuedOn: "2025-08-20",
                    validUntil: nil, verificationCode: "WXYZ-5678")))
        let renamed = EventEnvelope(
            id: "revoked-8", source: "/kaltim/workers/certificates",
            data: CertificateRevokedV1(
                certificateID: "CERT-INTERNAL-8", participantID: "PST-7", reasonCode: CertificateHandler.nameCorrected))
        do {
            _ = try await kit.deliver(renamed)
            Issue.record("a revocation NAME_CORRECTED was told before its replacement was known")
        } catch let failure as Failure {
            #expect(failure.code == .replacementUnknown && failure.kind == .transient)
        }
        _ = try await kit.deliver(
            EventEnvelope(
                id: "issued-8r", source: "/test",
                data: CertificateIssuedV1(
                    certificateID: "CERT-INTERNAL-8R", participantID: "PST-7", kind: .training, issuer: "BLKI Balikpapan",
                    certificateNumber: "BPN/2025/PEL/00008", registrationNumber: nil, scheme: nil, issuedOn: "2025-08-20",
                    validUntil: nil, verificationCode: "WXYZ-9012")))
        _ = try await kit.deliver(renamed)
        _ = try await kit.deliver(
            EventEnvelope(
                id: "documents-7", source: "/test",
                data: RegistrationDocumentsRequestedV1(
                    registrationID: "REG-7", centre: .bontang,
                    reason: RegistrationReason(code: "AKTA_DIPERLUKAN", message: "Mohon bawa akta kelahiran asli."),
                    respondBy: "2025-06-20")))
        _ = try await kit.deliver(
            EventEnvelope(
                id: "trained-7", source: "/test",
                data: TrainingCompletedV1(
                    participantID: "PST-7", classID: "BPN-2025-TATA_GRAHA-02", attendancePercent: 92, result: .passed,
                    recordedBy: "Instruktur")))
        _ = try await kit.deliver(
            EventEnvelope(
                id: "appeal-7", source: "/test",
                data: AssessmentAppealRecordedV1(
                    assessmentID: "A-2", participantID: "PST-7", scheme: "SKM-2025-HTL-TGR", lspLicence: "BNSP-LSP-0123-ID",
                    status: .dismissed, on: "2025-08-20", retakeAvailable: true)))
        _ = try await kit.deliver(
            EventEnvelope(
                id: "offer-7", source: "/test",
                data: EnrolmentTransferOfferedV1(
                    participantID: "PST-7", programme: "TATA_GRAHA", preferredCentre: .bontang, centre: .balikpapan,
                    classID: "BPN-2025-TATA_GRAHA-02", cohort: 2, startDate: "2025-07-21", endDate: "2025-08-29",
                    answerBy: "2025-07-13")))
        _ = try await kit.deliver(
            EventEnvelope(
                id: "reserve-7", source: "/test",
                data: EnrolmentReserveDesignatedV1(
                    participantID: "PST-7", classID: "BPN-2025-TATA_GRAHA-02", centre: .balikpapan, programme: "TATA_GRAHA",
                    cohort: nil, startDate: "2025-07-21", rank: 2)))
        // A licence record (certificate.issued v2): named as the record it is, with its qualification.
        _ = try await kit.deliver(
            EventEnvelope(
                id: "licence-7", source: "/test",
                data: CertificateIssuedV2(
                    certificateID: "KEMNAKER-2025-K3-00007", participantID: "PST-7", kind: .safetyLicence,
                    issuer: "Kemnaker", certificateNumber: "KEP.5/777/AS.03.02/X/2025", registrationNumber: nil,
                    scheme: "SKM-2025-OPR-FLT", qualification: "Operator Forklift Kelas II", issuedOn: "2025-09-15",
                    validUntil: "2030-09-14", verificationCode: "KEMNAKER-2025-K3-00007.abc")))
        _ = try await kit.deliver(
            EventEnvelope(
                id: "licence-7-revoked", source: "/test",
                data: CertificateRevokedV1(
                    certificateID: "KEMNAKER-2025-K3-00007", participantID: "PST-7", reasonCode: "DATA_ERROR")))
        // A v1 seat: no window in the event, the cohort from the plan; then a no-show.
        _ = try await kit.deliver(
            EventEnvelope(
                id: "scheduled-v1", source: "/test",
                data: ClassScheduledV1(
                    participantID: "PST-7", classID: "BPN-2025-TATA_GRAHA-02", centre: .balikpapan, programme: "TATA_GRAHA",
                    startDate: "2025-07-21", endDate: "2025-08-29", seat: 3)))
        _ = try await kit.deliver(
            EventEnvelope(
                id: "no-show-7", source: "/test",
                data: EnrolmentWithdrawnV1(participantID: "PST-7", classID: "BPN-2025-TATA_GRAHA-02", reason: .noShow)))
        while await dispatcher.runOnce() > 0 {}
        let texts = gateway.requests.values.map(\.text)
        let seat = try #require(texts.first { $0.contains("LULUS seleksi") })
        #expect(seat.contains("Mulai Senin, 21 Juli 2025") && !seat.contains("Daftar ulang"), "\(seat)")
        let stored = try await kit.query("SELECT parameters FROM notif_messages WHERE template = 'lulus_seleksi'")
        let parameters = try JSONDecoder().decode(
            [String: String].self, from: Data((stored.first?["parameters"]?.text ?? "").utf8))
        #expect(parameters["angkatan"] == "2" && parameters["ada_daftar_ulang"] == "false", "\(parameters)")
        let noShow = try #require(texts.first { $0.contains("tidak melakukan daftar ulang dalam batas waktunya") })
        #expect(noShow.contains("pelatihan Tata Graha di BLKI Balikpapan telah dilepaskan"), "\(noShow)")
        #expect(!texts.contains { $0.contains("BPN-2025-TATA_GRAHA-02") }, "no class id in a text")
        // The LSP's result says nothing of the training (the BLKI's result is a message of its own).
        let assessments = texts.filter { $0.contains("hasil uji kompetensi skema") && !$0.contains("banding Anda") }
        #expect(assessments.count == 2 && !assessments.contains { $0.contains("LULUS") || $0.contains("kehadiran") })
        let v1 = try #require(assessments.first { $0.contains("kepada LSP yang menguji Anda") }, "\(assessments)")
        #expect(!v1.contains("BNSP-LSP"))
        // Neither a v1 nor a v2 result says whether an attempt is left: no uji ulang is promised.
        #expect(!assessments.contains { $0.contains("Anda dapat mengikuti uji ulang") }, "\(assessments)")
        let v2 = try #require(assessments.first { $0.contains("LSP Kompetensi Kaltim (sintetis)") }, "\(assessments)")
        #expect(!v2.contains("BNSP-LSP-0123-ID"), "\(v2)")
        let offer = try #require(texts.first { $0.contains("sudah penuh. Tersedia satu kursi") }, "\(texts)")
        #expect(offer.contains("kelas Tata Graha di BLKI Bontang sudah penuh"), "\(offer)")
        #expect(offer.contains("di BLKI Balikpapan (") && offer.contains("angkatan 2, 21 Juli 2025 s.d. 29 Agustus 2025"))
        #expect(offer.contains("paling lambat 13 Juli 2025") && offer.contains("tetap menunggu kursi di BLKI Bontang"))
        let reserve = try #require(texts.first { $0.contains("peserta cadangan") }, "\(texts)")
        #expect(
            reserve.contains("urutan ke-2 untuk kelas Tata Graha di BLKI Balikpapan, angkatan 2, mulai 21 Juli 2025"),
            "\(reserve)")
        #expect(reserve.contains("tetap berada di daftar tunggu") && !reserve.contains("BPN-2025"), "\(reserve)")
        let appeal = try #require(texts.first { $0.contains("banding Anda") }, "\(texts)")
        #expect(appeal.contains("DITOLAK oleh LSP Kompetensi Kaltim (sintetis) pada 20 Agustus 2025"), "\(appeal)")
        #expect(appeal.contains("Anda masih dapat mengikuti uji ulang") && !appeal.contains("BNSP-LSP"), "\(appeal)")
        // Sends run side by side, so the gateway sees them in no fixed order: pick each text by what
        // only it says (the record and its revocation both carry the number).
        let licence = try #require(
            texts.first { $0.contains("KEP.5/777/AS.03.02/X/2025") && !$0.contains("telah dicabut") }, "\(texts)")
        #expect(licence.contains("Catatan Lisensi K3 (SIO) Anda telah dicatat oleh Disnakertrans"), "\(licence)")
        #expect(licence.contains("No. Lisensi/SKK: KEP.5/777") && !licence.contains("telah terbit"), "\(licence)")
        #expect(licence.contains("Operator Forklift Kelas II (program Operator Forklift)"), "\(licence)")
        #expect(licence.contains("Berlaku s.d. 14 September 2030"), "\(licence)")
        // Its revocation is the record's, not the licence's, and sends the holder to Disnakertrans.
        let licenceRevoked = try #require(
            texts.first { $0.contains("KEP.5/777/AS.03.02/X/2025 telah dicabut") }, "\(texts)")
        #expect(licenceRevoked.contains("catatan Lisensi K3 (SIO) nomor KEP.5/777"), "\(licenceRevoked)")
        #expect(licenceRevoked.contains("karena kesalahan data pada catatan."), "\(licenceRevoked)")
        #expect(licenceRevoked.contains("bukan dokumen yang Anda terima dari penerbitnya"), "\(licenceRevoked)")
        #expect(licenceRevoked.contains("hubungi Disnakertrans") && !licenceRevoked.contains("BLKI"), "\(licenceRevoked)")
        let training = try #require(texts.first { $0.contains("hasil pelatihan Tata Graha") }, "\(texts)")
        #expect(training.contains("di BLKI Balikpapan: LULUS (kehadiran 92%)"), "\(training)")
        // A result that cannot be true, or that contradicts the one told, is not told.
        for (id, attendance, result) in [("t-70", 70.0, TrainingCompletedV1.Result.passed), ("t-no", 92, .failed)] {
            await #expect(throws: Failure.self) {
                _ = try await kit.deliver(
                    EventEnvelope(
                        id: id, source: "/test",
                        data: TrainingCompletedV1(
                            participantID: "PST-7", classID: "BPN-2025-TATA_GRAHA-02", attendancePercent: attendance,
                            result: result, recordedBy: "Instruktur")))
            }
        }
        let revoked = try #require(texts.first { $0.contains("BPN/2025/PEL/00007 telah dicabut") })
        #expect(
            revoked.contains("BPN/2025/PEL/00007 telah dicabut karena hasil uji kompetensi dikoreksi oleh LSP")
                && revoked.contains("hubungi BLKI"))
        #expect(!texts.contains { $0.contains("ASSESSMENT_CORRECTED") || $0.contains("CERT-INTERNAL-7") })
        let reissued = try #require(texts.first { $0.contains("BPN/2025/PEL/00008 telah dicabut") }, "\(texts)")
        #expect(
            reissued.contains("karena nama Anda diperbaiki; sertifikat pengganti atas nama yang benar"), "\(reissued)")
        #expect(reissued.count <= 306, "two SMS segments: \(reissued.count)")
        #expect(texts.filter { $0.contains("BPN/2025/PEL/00008") && $0.contains("telah terbit") }.count == 2)
        let documents = try #require(texts.first { $0.contains("dokumen tambahan") })
        #expect(documents.contains("Mohon bawa akta kelahiran asli."), "\(documents)")
        #expect(documents.contains("ke BLKI Bontang paling lambat 20 Juni 2025"), "\(documents)")
        #expect(!NotificationHandler.revocationReason("SOMETHING_NEW").contains("SOMETHING_NEW"), "never the raw code")
        #expect(
            NotificationHandler.revocationReason(CertificateHandler.nameCorrected).contains(
                "sertifikat pengganti atas nama yang benar"), "a reissue under a corrected name says a replacement comes")
        await gateway.stop()
    }

    /// The worker beside the dispatcher, as far as the dispatcher sees it: collects what it is
    /// asked to publish.
    final class CollectingOutbox: OutboxPublishing {
        let entries = Mutex<[OutboxEntry]>([])
        func publishSoon(_ entries: [OutboxEntry]) { self.entries.withLock { $0 += entries } }
    }

    /// A gateway that takes everything.
    struct TakingSender: MessageSender {
        func send(_ message: OutgoingNotification) async -> SendResult {
            .sent(providerMessageID: "taken-" + message.idempotencyKey)
        }
    }

    /// Each recorded outcome's event is handed to the worker to publish at once (the worker's
    /// flusher takes only rows older than 10 s: a delivery report waited 10 to 12 s), exactly
    /// the rows the record wrote to the outbox.
    @Test func eachRecordedOutcomeIsHandedToTheWorkerToPublishAtOnce() async throws {
        let clock = Clock(Self.noon())
        let outbox = CollectingOutbox()
        let (kit, dispatcher) = try await Self.rig(
            senders: [.whatsApp: TakingSender(), .sms: TakingSender()], clock: clock, outbox: outbox)
        for index in 1...3 { _ = try await kit.deliver(Self.submitted(index)) }
        while await dispatcher.runOnce() > 0 {}
        let handed = outbox.entries.withLock { $0 }
        let rows = try await kit.query("SELECT id FROM jobs_outbox WHERE routing_key = 'notification.delivered' ORDER BY id")
        #expect(!handed.isEmpty)
        #expect(handed.map(\.id).sorted() == rows.compactMap { $0["id"]?.integer }, "every outcome's row, once")
        #expect(handed.allSatisfy { $0.event.routingKey == NotificationDeliveredV1.eventType })
    }

    @Test func a5xxIsRetriedAfterRetryAfterAndA4xxFallsBackToTheNextChannel() async throws {
        let gateway = try await TestGateway.start { request, attempt in
            if request.channel == "WHATSAPP" { return (400, [:]) }  // e.g. not a WhatsApp number
            return attempt == 1 ? (503, ["Retry-After": "2"]) : (200, [:])
        }
        let clock = Clock(Self.noon())
        let sender = HTTPGatewaySender(url: gateway.url, token: nil)
        let (kit, dispatcher) = try await Self.rig(senders: [.whatsApp: sender, .sms: sender], clock: clock)
        _ = try await kit.deliver(Self.submitted(7, whatsApp: "+628110000007"))
        await dispatcher.runOnce()  // WhatsApp: 400 → next channel
        await dispatcher.runOnce()  // SMS: 503, Retry-After 2 s
        #expect(gateway.requests.values.map(\.channel) == ["WHATSAPP", "SMS"])
        let waiting = try #require(try await kit.query("SELECT * FROM notif_messages").first)
        #expect(waiting["state"]?.text == "pending" && waiting["attempts"]?.integer == 1)
        #expect(waiting["route_index"]?.integer == 1)
        // Not before the Retry-After (the backoff is 1 s here): nothing due one second later.
        clock.set(Self.noon().addingTimeInterval(1))
        #expect(await dispatcher.runOnce() == 0)
        clock.set(Self.noon().addingTimeInterval(2.5))
        #expect(await dispatcher.runOnce() == 1)
        #expect(gateway.accepted.count == 1 && gateway.requests.count == 3)
        let sms = gateway.requests.values.filter { $0.channel == "SMS" }
        #expect(sms.count == 2 && sms[0].key == sms[1].key, "the same idempotency key on every attempt")
        let row = try #require(try await kit.query("SELECT * FROM notif_messages").first)
        #expect(row["state"]?.text == "sent" && row["channel_used"]?.text == "SMS")
        await gateway.stop()
    }

    @Test func numbersAreSentToInTheirPlus62FormAndAnInvalidWhatsAppNumberIsNotUsed() async throws {
        let gateway = try await TestGateway.start { _, _ in (200, [:]) }
        let sender = HTTPGatewaySender(url: gateway.url, token: nil)
        let (kit, dispatcher) = try await Self.rig(senders: [.whatsApp: sender, .sms: sender], clock: Clock(Self.noon()))
        _ = try await kit.deliver(Self.submitted(21, whatsApp: "0811-2345", phone: "0812 5000 0021"))
        let contact = try #require(try await kit.query("SELECT phone, whatsapp FROM notif_contacts").first)
        #expect(contact["phone"]?.text == "+6281250000021")
        #expect(contact["whatsapp"] == .null, "too short for a mobile number")
        await dispatcher.runOnce()
        #expect(gateway.requests.values.map(\.channel) == ["SMS"], "no attempt on the invalid WhatsApp number")
        #expect(gateway.requests.values.map(\.to) == ["+6281250000021"])
        await gateway.stop()
    }

    /// The portal's registration reaches this worker before intake has checked it: an e-mail
    /// address that would write SMTP commands is not kept, and a name that carries a link or an
    /// instruction is not put in a message ("Bapak/Ibu" instead). An office's request to an
    /// address that is not one of its channel is refused; a number is sent to in its +62 form.
    @Test func aHostileAddressOrNameFromAPublisherReachesNoMessage() async throws {
        let gateway = try await TestGateway.start { _, _ in (200, [:]) }
        let sender = HTTPGatewaySender(url: gateway.url, token: nil)
        let (kit, dispatcher) = try await Self.rig(senders: [.whatsApp: sender, .sms: sender], clock: Clock(Self.noon()))
        var hostile = Self.submitted(31, email: "a@x.id>\r\nRCPT TO:<victim@y.id")
        hostile.data.fullName = "Budi. PENTING: akun Anda diblokir, aktifkan di https://evil.example/x"
        _ = try await kit.deliver(hostile)
        var plain = Self.submitted(32, email: "siti.aminah@contoh.id")
        plain.data.fullName = "Siti Nur'aini Al-Rasyid"
        _ = try await kit.deliver(plain)
        let contacts = try await kit.query("SELECT registration_id, name, email FROM notif_contacts ORDER BY registration_id")
        #expect(contacts.map { $0["name"]?.text } == ["Bapak/Ibu", "Siti Nur'aini Al-Rasyid"])
        #expect(contacts.map { $0["email"] } == [.null, .text("siti.aminah@contoh.id")])
        for bad in ["a@b.id\r\nBcc: c@d.id", "<a@b.id>", "a,b@c.id", "a b@c.id", "x@y.id\u{2028}z"] {
            #expect(NotificationHandler.usableEmail(bad) == nil, "\(bad)")
            #expect(!SMTPSender.isSafeRecipient(bad), "\(bad)")
        }
        #expect(NotificationHandler.greeting("  Muh. Rizky  ") == "Muh. Rizky")
        // Real names as people write them: degrees, initials, curly apostrophes, other scripts.
        #expect(NotificationHandler.greeting("Ahmad Fauzi, S.T.") == "Ahmad Fauzi, S. T.")
        #expect(NotificationHandler.greeting("M.Yusuf") == "M. Yusuf")
        #expect(NotificationHandler.greeting("Siti Nur\u{2019}aini") == "Siti Nur\u{2019}aini")
        #expect(NotificationHandler.greeting("H.\u{00A0}Ahmad bin Abdullah") == "H. Ahmad bin Abdullah")
        #expect(NotificationHandler.greeting("عبد الله") == "عبد الله")
        #expect(NotificationHandler.greeting("Budi 08123456789") == "Bapak/Ibu", "a phone number")
        #expect(NotificationHandler.greeting("Budi aktifkan di evil.example") == "Budi aktifkan di evil. example", "no domain")
        #expect(NotificationHandler.greeting("Budi budi@contoh.id") == "Bapak/Ibu", "an address")
        #expect(NotificationHandler.greeting("Peserta 12") == "Peserta 12")
        #expect(
            NotificationHandler.greeting("Raden Ajeng Siti Nur Aini binti Ahmad Dahlan")
                == "Raden Ajeng Siti Nur Aini binti Ahmad Dahlan")
        #expect(NotificationHandler.greeting("Siti\u{202E}nahk") == "Bapak/Ibu")
        for (id, channel, recipient) in [
            ("bad-mail", NotificationChannel.email, "a@x.id>\r\nRCPT TO:<v@y.id"), ("bad-sms", .sms, "+1 555 0100"),
            ("bad-wa", .whatsApp, "+6281250000031;+6281299999999"),
        ] {
            let requested = NotificationRequestedV1(
                notificationID: id, participantID: nil, registrationID: "REG-32", channel: channel, recipient: recipient,
                template: "pemberitahuan_kegagalan_pdp",
                parameters: [
                    "nama": "Siti", "waktu_kejadian": "7 Juli 2025", "jenis_data": "nama", "uraian_singkat": "uji",
                    "langkah": "uji", "kontak_ppdp": "ppdp@contoh.id",
                ])
            do {
                _ = try await kit.deliver(EventEnvelope(id: "requested-\(id)", source: "/test", data: requested))
                Issue.record("taken: \(id)")
            } catch let failure as Failure {
                #expect(failure.code == .invalidRecipient && failure.kind == .permanent, "\(failure)")
            }
        }
        // An event's template, filled by the requester: a "certificate" whose verification link is
        // the requester's. Refused: only free templates are requested.
        let forged = NotificationRequestedV1(
            notificationID: "forged-certificate", participantID: nil, registrationID: "REG-32", channel: .sms,
            recipient: "0812 5000 0032", template: "sertifikat_terbit",
            parameters: [
                "nama": "Siti", "jenis": "Sertifikat", "catatan_lisensi": "false", "no_sertifikat": "1",
                "ada_no_registrasi": "false", "no_registrasi": "", "skema": "Tata Graha", "tanggal_terbit": "7 Juli 2025",
                "ada_masa_berlaku": "false", "berlaku_sd": "", "tautan_verifikasi": "https://evil.example/bayar",
                "kode_verifikasi": "X",
            ])
        await #expect {
            _ = try await kit.deliver(EventEnvelope(id: "requested-forged", source: "/test", data: forged))
        } throws: { ($0 as? Failure)?.code == .templateNotRequestable && ($0 as? Failure)?.kind == .permanent }
        // Nor a channel's wording of an event's template.
        var smsWording = forged
        smsWording.notificationID = "forged-selection"
        smsWording.template = "lulus_seleksi.sms"
        await #expect {
            _ = try await kit.deliver(EventEnvelope(id: "requested-forged-sms", source: "/test", data: smsWording))
        } throws: { ($0 as? Failure)?.code == .templateNotRequestable }
        let requested = NotificationRequestedV1(
            notificationID: "good-sms", participantID: nil, registrationID: "REG-32", channel: .sms, recipient: "0812 5000 0032",
            template: "pemberitahuan_kegagalan_pdp",
            parameters: [
                "nama": "Siti", "waktu_kejadian": "7 Juli 2025", "jenis_data": "nama", "uraian_singkat": "uji", "langkah": "uji",
                "kontak_ppdp": "ppdp@contoh.id",
            ])
        _ = try await kit.deliver(EventEnvelope(id: "requested-good", source: "/test", data: requested))
        while await dispatcher.runOnce() > 0 {}
        let texts = gateway.requests.values.filter { $0.to == "+6281250000031" }.map(\.text)
        #expect(!texts.isEmpty && texts.allSatisfy { !$0.contains("evil") && !$0.contains("PENTING") }, "\(texts)")
        #expect(gateway.requests.values.contains { $0.to == "+6281250000032" && $0.text.contains("kegagalan") })
        #expect(!gateway.requests.values.contains { $0.text.contains("evil.example") })
        await gateway.stop()
    }

    @Test func everyChannelRefusingEndsInNotificationFailed() async throws {
        let gateway = try await TestGateway.start { _, _ in (422, [:]) }
        let clock = Clock(Self.noon())
        let sender = HTTPGatewaySender(url: gateway.url, token: nil)
        let (kit, dispatcher) = try await Self.rig(senders: [.sms: sender], clock: clock)
        _ = try await kit.deliver(Self.submitted(8))
        while await dispatcher.runOnce() > 0 {}
        let row = try #require(try await kit.query("SELECT * FROM notif_messages").first)
        let lastError = row["last_error"]?.text ?? ""
        #expect(row["state"]?.text == "failed" && lastError.hasPrefix("GATEWAY_HTTP_422"))
        let events = try await kit.store.unpublished(limit: 10, createdBefore: .distantFuture)
        #expect(events.map(\.event.type) == ["notification.failed"])
        await gateway.stop()
    }

    /// Thirty days after a message is settled, its values and routes (the name, the number it
    /// went to) are cleared; the record stays, and a message still pending is not touched.
    @Test func aSettledMessageKeepsItsPersonalDataThirtyDaysAndNoLonger() async throws {
        let gateway = try await TestGateway.start()
        let clock = Clock(Self.noon())
        let (kit, dispatcher) = try await Self.rig(
            senders: [.sms: HTTPGatewaySender(url: gateway.url, token: nil)], clock: clock)
        _ = try await kit.deliver(Self.submitted(3))
        _ = try await kit.deliver(Self.accepted(3))
        while await dispatcher.runOnce() > 0 {}
        // Night: the next message is held for the quiet hours, still pending.
        clock.set(ISO8601DateFormatter().date(from: "2025-07-07T23:00:00+08:00")!)
        _ = try await kit.deliver(Self.scheduled(3))
        while await dispatcher.runOnce() > 0 {}
        func rows() async throws -> [String: (state: String, parameters: String, routes: String)] {
            Dictionary(
                uniqueKeysWithValues: try await kit.query("SELECT template, state, parameters, routes FROM notif_messages").map {
                    (
                        $0["template"]?.text ?? "",
                        ($0["state"]?.text ?? "", $0["parameters"]?.text ?? "", $0["routes"]?.text ?? "")
                    )
                })
        }
        var before = try await rows()
        #expect(before.values.map(\.state).sorted() == ["pending", "sent", "sent"], "\(before)")
        #expect(before.values.allSatisfy { $0.routes.contains("6281250000003") })
        // A gateway's reply kept as the last error may echo the number.
        try await kit.store.write { try $0.execute("UPDATE notif_messages SET last_error = 'no +6281250000003'", []) }
        // 29 days on: nothing is cleared yet.
        clock.set(Self.noon().addingTimeInterval(29 * 86_400))
        #expect(await dispatcher.purgeSettledMessageData() == 0)
        // 31 days on: the two sent messages lose their values and routes; the pending one keeps them.
        clock.set(Self.noon().addingTimeInterval(31 * 86_400))
        #expect(await dispatcher.purgeSettledMessageData() == 2)
        before = try await rows()
        for (template, row) in before {
            if row.state == "sent" {
                #expect(row.parameters == "{}" && row.routes == "[]", "\(template)")
            } else {
                #expect(row.routes.contains("6281250000003") && row.parameters.contains("Peserta 3"), "\(template)")
            }
        }
        #expect(await dispatcher.purgeSettledMessageData() == 0, "nothing twice")
        let errors = try await kit.query("SELECT state, last_error FROM notif_messages")
        #expect(errors.allSatisfy { ($0["state"]?.text == "sent") == ($0["last_error"] == .null) }, "\(errors)")
        // A message cleared before the last reply was cleared with it keeps no reply either.
        try await kit.store.write {
            try $0.execute("UPDATE notif_messages SET last_error = 'no +6281250000003' WHERE state = 'sent'", [])
        }
        #expect(await dispatcher.purgeSettledMessageData() == 2)
        #expect(try await kit.query("SELECT 1 FROM notif_messages WHERE state = 'sent' AND last_error IS NOT NULL").isEmpty)
    }

    /// Sends that finish together are recorded together; a change that fails (here a trigger
    /// refuses one row's) does not take the others' with it.
    @Test func aChangeThatFailsLeavesTheOthersOfItsGroupRecorded() async throws {
        let clock = Clock(Self.noon())
        let (kit, dispatcher) = try await Self.rig(senders: [:], clock: clock)
        for index in 1...3 { _ = try await kit.deliver(Self.submitted(index)) }
        let ids = try await kit.query("SELECT notification_id FROM notif_messages ORDER BY created_at").compactMap {
            $0["notification_id"]?.text
        }
        try #require(ids.count == 3)
        _ = try await kit.store.write { transaction in
            try transaction.execute(
                """
                CREATE TRIGGER refuse_one BEFORE UPDATE ON notif_messages WHEN OLD.notification_id = '\(ids[1])'
                BEGIN SELECT RAISE(ABORT, 'refused by the test'); END
                """, [])
        }
        await dispatcher.record(
            ids.map { .update(notificationID: $0, assignments: "SET next_attempt_at = ?", arguments: [.real(123)]) })
        let due = try await kit.query("SELECT notification_id, next_attempt_at FROM notif_messages ORDER BY created_at")
        #expect(due.map { $0["next_attempt_at"]?.real } == [123, 0, 123], "\(due)")
    }

    /// A round takes no more than its slowest channel can send within half the claim, at its
    /// rate and with at most its burst in flight, each send taking the longest it may: a round
    /// that outlasted its claim would let another replica send its last messages again.
    @Test func aRoundTakesNoMoreThanItsSlowestChannelCanSendWithinHalfTheClaim() async throws {
        var options = DispatcherOptions()
        #expect(options.messagesPerRound(over: [NotificationChannel.whatsApp, .sms, .email]) == 60)
        #expect(options.messagesPerRound(over: [NotificationChannel.whatsApp, .sms]) == 120)
        #expect(options.messagesPerRound(over: [NotificationChannel]()) == 256)
        options.rates = [.whatsApp: (1_000_000, 2_000_000), .sms: (1_000_000, 2_000_000), .email: (1_000_000, 2_000_000)]
        #expect(options.messagesPerRound(over: NotificationChannel.allCases) == 256, "the main job: no rate to protect")
        options.rates[.email] = (1, 2)
        options.claim = .seconds(30)
        #expect(options.messagesPerRound(over: NotificationChannel.allCases) == 1, "15 s cannot hold one 20 s send: one a round")
        options.claim = .seconds(600)
        #expect(options.messagesPerRound(over: NotificationChannel.allCases) == 30, "2 in flight x 15 waves of 20 s")
        options.batchSize = Int.max
        options.rates = [:]
        #expect(options.messagesPerRound(over: NotificationChannel.allCases) == 1_000_000)

        // The dispatcher keeps to it: five messages waiting, one taken a round.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("notif-log-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let clock = Clock(Self.noon())
        let file = try FileSender(path: path, now: { clock.date })
        let (kit, dispatcher) = try await Self.rig(senders: [.sms: file, .whatsApp: file, .email: file], clock: clock) {
            $0.claim = .seconds(30)
        }
        for index in 1...5 { _ = try await kit.deliver(Self.submitted(index)) }
        #expect(await dispatcher.runOnce() == 1)
    }

    /// A dispatcher taking one message a round, sending every channel to a file log (returned,
    /// for the caller to remove) on a clock at noon.
    static func oneMessageARound() async throws -> (
        kit: HandlerTestKit, dispatcher: NotificationDispatcher, clock: Clock, path: String
    ) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("notif-log-\(UUID().uuidString).jsonl").path
        let clock = Clock(Self.noon())
        let file = try FileSender(path: path, now: { clock.date })
        let (kit, dispatcher) = try await Self.rig(senders: [.sms: file, .whatsApp: file, .email: file], clock: clock) {
            $0.batchSize = 1
        }
        return (kit, dispatcher, clock, path)
    }

    /// The recipients of a file log's lines, in the order they were sent.
    static func recipients(in path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["recipient"] as? String
        }
    }

    /// The dispatcher takes the oldest waiting message first (one at a time here), and reads
    /// that order from an index: a claim sorts nothing, however long the backlog. Every new
    /// message is due at once, so with the index before (no arrival time in it) each claim
    /// sorted every waiting message.
    @Test func theOldestWaitingMessageGoesFirstAndAClaimSortsNothing() async throws {
        let (kit, dispatcher, _, path) = try await Self.oneMessageARound()
        defer { try? FileManager.default.removeItem(atPath: path) }
        for index in [3, 1, 5, 2, 4] { _ = try await kit.deliver(Self.submitted(index)) }
        while await dispatcher.runOnce() > 0 {}
        let recipients = try Self.recipients(in: path)
        #expect(recipients == [3, 1, 5, 2, 4].map { String(format: "+6281250%06d", $0) }, "in order of arrival")
        for (query, arguments) in [
            (NotificationDispatcher.dueAgainQuery, [SQLValue.real(0), .real(0), .integer(64)]),
            (NotificationDispatcher.newQuery, [.real(0), .integer(64)]),
        ] {
            let plan = try await kit.query("EXPLAIN QUERY PLAN " + query, arguments)
            let steps = plan.compactMap { $0["detail"]?.text }
            #expect(steps.contains { $0.contains("USING INDEX notif_messages_due_order") }, "\(steps)")
            #expect(!steps.contains { $0.contains("TEMP B-TREE") }, "no sort: \(steps)")
        }
    }

    /// A message due again (a retry, a move to another channel, one quiet hours held) goes
    /// before a backlog of new ones: it waited already. Before, every new message was due at 0
    /// and so went first, and a retry waited for the whole backlog.
    @Test func aMessageDueAgainGoesBeforeABacklogOfNewOnes() async throws {
        let (kit, dispatcher, clock, path) = try await Self.oneMessageARound()
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try await kit.deliver(Self.submitted(9))
        // Its first try is over: due again a minute ago (as a retry leaves it).
        try await kit.store.write { transaction in
            try transaction.execute(
                "UPDATE notif_messages SET next_attempt_at = ?", [.real(clock.date.timeIntervalSince1970 - 60)])
        }
        for index in [3, 1, 5] { _ = try await kit.deliver(Self.submitted(index)) }
        while await dispatcher.runOnce() > 0 {}
        let recipients = try Self.recipients(in: path)
        #expect(recipients == [9, 3, 1, 5].map { String(format: "+6281250%06d", $0) }, "the one due again first")
    }

    /// The file channel's log is a copy of what was sent (texts and numbers): the dispatcher
    /// deletes its lines with the messages' data, past the same retention.
    @Test func theNotificationLogLosesItsLinesWithTheMessagesData() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("notif-log-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let clock = Clock(Self.noon())
        let file = try FileSender(path: path, now: { clock.date })
        let (kit, dispatcher) = try await Self.rig(senders: [.sms: file, .whatsApp: file, .email: file], clock: clock)
        _ = try await kit.deliver(Self.submitted(4))
        _ = try await kit.deliver(Self.accepted(4))
        while await dispatcher.runOnce() > 0 {}
        func text() throws -> String { try String(contentsOfFile: path, encoding: .utf8) }
        #expect(try text().split(separator: "\n").count == 2)
        #expect(try text().contains("6281250000004"))
        clock.set(Self.noon().addingTimeInterval(29 * 86_400))
        _ = await dispatcher.purgeSettledMessageData()
        #expect(try text().split(separator: "\n").count == 2, "not yet")
        clock.set(Self.noon().addingTimeInterval(31 * 86_400))
        #expect(await dispatcher.purgeSettledMessageData() == 2)
        #expect(try text().isEmpty)
    }

    @Test func quietHoursHoldNonUrgentMessagesUntilSevenWITAAndLetUrgentOnesThrough() async throws {
        let gateway = try await TestGateway.start()
        let night = ISO8601DateFormatter().date(from: "2025-07-07T22:15:00+08:00")!
        let clock = Clock(night)
        let sender = HTTPGatewaySender(url: gateway.url, token: nil)
        let (kit, dispatcher) = try await Self.rig(senders: [.sms: sender], clock: clock)
        _ = try await kit.deliver(Self.submitted(9))
        _ = try await kit.deliver(Self.accepted(9))
        let revoked = EventEnvelope(
            id: "revoked-9", source: "/test",
            data: CertificateRevokedV1(certificateID: "BPN-2025-TGR-00009", participantID: "PST-9", reasonCode: "DATA_ERROR"))
        // A revocation names the certificate by its number, which the issuance brought: before
        // the issuance has arrived, it waits (a transient failure).
        await #expect(throws: Failure.self) { _ = try await kit.deliver(revoked) }
        _ = try await kit.deliver(
            EventEnvelope(
                id: "issued-9", source: "/test",
                data: CertificateIssuedV1(
                    certificateID: "BPN-2025-TGR-00009", participantID: "PST-9", kind: .training, issuer: "BLKI Balikpapan",
                    certificateNumber: "BPN/2025/PEL/00009", registrationNumber: nil, scheme: nil, issuedOn: "2025-07-01",
                    validUntil: nil, verificationCode: "ABCD-EFGH")))
        _ = try await kit.deliver(revoked)
        while await dispatcher.runOnce() > 0 {}
        let urgent = try #require(gateway.requests.values.first)
        #expect(gateway.requests.count == 1 && urgent.text.contains("dicabut"))
        #expect(urgent.text.contains("BPN/2025/PEL/00009") && !urgent.text.contains("BPN-2025-TGR-00009"), "\(urgent.text)")
        #expect(urgent.text.contains("kesalahan data pada sertifikat"))
        #expect(dispatcher.statistics.held == 3)
        let held = try await kit.query("SELECT next_attempt_at FROM notif_messages WHERE state = 'pending'")
        let seven = ISO8601DateFormatter().date(from: "2025-07-08T07:00:00+08:00")!.timeIntervalSince1970
        #expect(held.count == 3 && held.allSatisfy { $0["next_attempt_at"] == .real(seven) })
        clock.set(Date(timeIntervalSince1970: seven - 60))
        #expect(await dispatcher.runOnce() == 0)
        clock.set(Date(timeIntervalSince1970: seven))
        while await dispatcher.runOnce() > 0 {}
        #expect(gateway.accepted.count == 4)
        await gateway.stop()
    }

    /// An idle dispatcher waits up to its idle interval (an hour here) before it looks again;
    /// the worker's commit rings its doorbell, and what became due is sent at once, not an hour
    /// later.
    @Test func aRungDoorbellWakesAnIdleDispatcherAtOnce() async throws {
        let gateway = try await TestGateway.start()
        let night = ISO8601DateFormatter().date(from: "2025-07-07T22:15:00+08:00")!
        let clock = Clock(night)
        let doorbell = Doorbell()
        let (kit, dispatcher) = try await Self.rig(
            senders: [.sms: HTTPGatewaySender(url: gateway.url, token: nil)], clock: clock, doorbell: doorbell
        ) { $0.idleInterval = .seconds(3600) }
        _ = try await kit.deliver(Self.submitted(9))
        _ = try await kit.deliver(Self.accepted(9))
        let running = Task { try await dispatcher.run() }
        // Quiet hours: both messages are held until 07.00, and the dispatcher goes idle.
        try await waitUntil(timeout: .seconds(60), "the dispatcher holds the messages and waits") {
            dispatcher.statistics.held == 2 && doorbell.isWaiting
        }
        #expect(gateway.requests.count == 0)
        clock.set(ISO8601DateFormatter().date(from: "2025-07-08T07:00:00+08:00")!)
        doorbell.ring()
        try await waitUntil(timeout: .seconds(60), "both messages sent after the ring") { gateway.accepted.count == 2 }
        running.cancel()
        try await running.value
        await gateway.stop()
    }

    /// The token bucket on instants of the test's own: 11 sends at 10 per second with no burst
    /// are due 100 ms apart, and a bucket left alone refills to its burst, not beyond.
    @Test func theTokenBucketSpacesSendsByItsRateOnAnInjectedClock() {
        let limiter = RateLimiter(perSecond: 10, burst: 1)
        let start = ContinuousClock.now
        let waits = (0..<11).map { _ in limiter.reserve(at: start) }
        for (index, wait) in waits.enumerated() {
            #expect(Self.within10Microseconds(wait, .milliseconds(100 * index)), "send \(index): \(wait)")
        }
        // Two seconds later the debt (1 s) is paid and the bucket holds its one token again.
        #expect(limiter.reserve(at: start + .seconds(2)) == .zero)
        #expect(Self.within10Microseconds(limiter.reserve(at: start + .seconds(2)), .milliseconds(100)))
    }

    static func within10Microseconds(_ a: Duration, _ b: Duration) -> Bool {
        (a > b ? a - b : b - a) < .microseconds(10)
    }

    /// Sends that would start together (a slow connection holding them back) never reach the
    /// gateway together: a channel has at most `burst` sends in flight. Held sends, no clock.
    @Test func aChannelNeverHasMoreSendsInFlightThanItsBurst() async throws {
        let limiter = RateLimiter(perSecond: 1_000, burst: 2)
        let gate = GateSender()
        let sends = (0..<6).map { _ in Task { try await limiter.run { await gate.send() } } }
        try await waitUntil(timeout: .seconds(30), "two sends held and four waiting for a slot") {
            gate.counts.withLock { $0.started } == 2 && limiter.waiting == 4
        }
        #expect(gate.counts.withLock { $0.started } == 2, "no third send while two are in flight")
        gate.open()
        for send in sends { try await send.value }
        #expect(gate.counts.withLock { $0 } == (started: 6, inFlight: 0, most: 2))
    }

    /// Through the real HTTP gateway: 11 sends at 10 per second with no burst all arrive, and
    /// the gateway never answers two of them at once.
    @Test func theRateLimitHoldsWhereTheGatewaySeesIt() async throws {
        let gateway = try await TestGateway.start()
        let clock = Clock(Self.noon())
        let sender = HTTPGatewaySender(url: gateway.url, token: nil)
        let (kit, dispatcher) = try await Self.rig(senders: [.sms: sender], clock: clock) { options in
            options.rates = [.sms: (perSecond: 10, burst: 1)]
        }
        for index in 100..<111 { _ = try await kit.deliver(Self.submitted(index)) }
        while await dispatcher.runOnce() > 0 {}
        #expect(gateway.requests.values.count == 11)
        #expect(gateway.inFlight.state.withLock { $0.most } == 1)
        await gateway.stop()
    }

    /// Holds every send until opened; counts the sends started, in flight and the most at once.
    final class GateSender: Sendable {
        let counts = Mutex((started: 0, inFlight: 0, most: 0))
        private let held = Mutex<(open: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

        func send() async {
            counts.withLock {
                $0.started += 1
                $0.inFlight += 1
                $0.most = max($0.most, $0.inFlight)
            }
            await withCheckedContinuation { continuation in
                let go = held.withLock { state -> Bool in
                    if state.open { return true }
                    state.waiting.append(continuation)
                    return false
                }
                if go { continuation.resume() }
            }
            counts.withLock { $0.inFlight -= 1 }
        }

        func open() {
            let waiting = held.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.open = true
                defer { state.waiting = [] }
                return state.waiting
            }
            for continuation in waiting { continuation.resume() }
        }
    }

    /// Holds the message to one recipient until released; counts every send by its key.
    final class HoldingSender: MessageSender {
        let heldRecipient: String
        let sends = Mutex<[String: Int]>([:])
        let holding = Atomic<Bool>(false)
        private let gate = AsyncStream.makeStream(of: Void.self)

        init(holding recipient: String) { heldRecipient = recipient }

        func send(_ message: OutgoingNotification) async -> SendResult {
            sends.withLock { $0[message.idempotencyKey, default: 0] += 1 }
            if message.recipient == heldRecipient {
                holding.store(true, ordering: .relaxed)
                for await _ in gate.stream { break }
            }
            return .sent(providerMessageID: "provider-" + message.idempotencyKey)
        }

        func release() { gate.continuation.yield() }
    }

    /// A send that stalls keeps its claim on the store's clock: a replica whose clock runs three
    /// minutes ahead (more than the two-minute claim) does not take it over, and the sends that
    /// returned meanwhile are recorded at once, not after the stalled one.
    @Test func aStalledSendIsNeitherTakenOverByAReplicaAheadNorHoldsBackTheOthersRecords() async throws {
        let clock = Clock(Self.noon())
        let sender = HoldingSender(holding: "+6281250000202")
        let (kit, dispatcher) = try await Self.rig(senders: [.whatsApp: sender, .sms: sender], clock: clock)
        for index in 200..<205 { _ = try await kit.deliver(Self.submitted(index)) }
        let templates = try NotificationTemplates(directory: NotificationTemplateTests.directory)
        let ahead = NotificationDispatcher(
            store: kit.store, templates: templates, senders: [.whatsApp: sender, .sms: sender], instance: "ahead",
            now: { clock.date.addingTimeInterval(180) })
        let round = Task { await dispatcher.runOnce() }
        try await waitUntil(timeout: .seconds(30), "four sent and recorded while the fifth stalls") {
            let sent = try await kit.query("SELECT COUNT(*) AS n FROM notif_messages WHERE state = 'sent'")
            return sender.holding.load(ordering: .relaxed) && sent.first?["n"]?.integer == 4
        }
        for _ in 0..<3 { #expect(await ahead.runOnce() == 0, "the replica ahead takes nothing claimed") }
        sender.release()
        #expect(await round.value == 5)
        let lateAhead = await ahead.runOnce()
        let lateOwn = await dispatcher.runOnce()
        #expect(lateAhead == 0 && lateOwn == 0, "nothing left to send")
        let states = try await kit.query("SELECT state FROM notif_messages").compactMap { $0["state"]?.text }
        #expect(states == Array(repeating: "sent", count: 5))
        #expect(sender.sends.withLock { $0.count == 5 && $0.values.allSatisfy { $0 == 1 } }, "each sent once")
    }

    @Test func anEventForSomeoneNotYetKnownComesBackLater() async throws {
        let clock = Clock(Self.noon())
        let (kit, _) = try await Self.rig(senders: [:], clock: clock)
        await #expect {
            try await kit.deliver(Self.scheduled(404))
        } throws: { ($0 as? Failure)?.kind == .transient && ($0 as? Failure)?.code == .contactUnknown }
    }

    @Test func eMailGoesOverSMTPWithSubjectMessageIDAndFallsBackOnRefusal() async throws {
        let port = freeLoopbackPort()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("smtp")).path
        let server = try ChildProcess(
            "/usr/bin/env", ["python3", repositoryFile("scripts/test-smtp-server.py"), "\(port)", folder])
        defer { Task { await server.terminate() } }
        try await server.waitForLog("ready", timeout: .seconds(30))
        let gateway = try await TestGateway.start { request, _ in request.to.hasSuffix("0011") ? (400, [:]) : (200, [:]) }
        let clock = Clock(Self.noon())
        let smtp = SMTPSender(url: "smtp://127.0.0.1:\(port)", from: "noreply@disnakertrans.example")
        let (kit, dispatcher) = try await Self.rig(
            senders: [.sms: HTTPGatewaySender(url: gateway.url, token: nil), .email: smtp], clock: clock)
        // SMS refused (400) for this number: the message goes by e-mail instead.
        _ = try await kit.deliver(Self.submitted(11, phone: "+628125000011", email: "peserta11@example.id"))
        // E-mail refused by the server (550) after the SMS was refused: failed.
        _ = try await kit.deliver(Self.submitted(12, phone: "+628125000011", email: "reject12@example.id"))
        while await dispatcher.runOnce() > 0 {}
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".eml") }
        #expect(files.count == 1)
        let mail = try String(contentsOfFile: folder + "/" + (files.first ?? ""), encoding: .utf8)
        #expect(mail.contains("To: <peserta11@example.id>") && mail.contains("Message-ID: <ntf-"))
        let subject = try #require(mail.split(separator: "\r\n").first { $0.hasPrefix("Subject: =?UTF-8?B?") })
        let encoded = subject.dropFirst("Subject: =?UTF-8?B?".count).dropLast(2)
        #expect(
            String(decoding: Data(base64Encoded: String(encoded)) ?? Data(), as: UTF8.self) == "Pendaftaran REG-11 telah diterima"
        )
        let states = try await kit.query(
            "SELECT registration_id, state, channel_used, last_error FROM notif_messages ORDER BY registration_id")
        #expect(states.map { $0["state"]?.text } == ["sent", "failed"])
        #expect(states.first?["channel_used"]?.text == "EMAIL")
        let lastError = states.last?["last_error"]?.text ?? ""
        #expect(lastError.hasPrefix("SMTP_550"), "\(states)")

        await gateway.stop()
    }

    /// A registration number of 10,000 characters (with a line break and an escape) reaches an
    /// e-mail subject before intake has checked it: the header is folded into short lines,
    /// and the subject reads back as its first 199 characters and "…", controls as spaces.
    @Test func aSubjectOfAnyLengthIsFoldedIntoShortEncodedWordsAndCut() throws {
        let long = "Pendaftaran REG-\r\n\u{1B}[31m" + String(repeating: "é", count: 10_000) + " telah diterima"
        let folded = ("Subject: " + SMTPSender.encodedSubject(long)).components(separatedBy: "\r\n")
        #expect(folded.count > 1 && folded.dropFirst().allSatisfy { $0.hasPrefix(" ") }, "folded lines start with a space")
        #expect(folded.allSatisfy { $0.utf8.count <= 78 }, "\(folded.map(\.utf8.count).max() ?? 0)")
        var decoded = Data()
        for word in folded.map({ $0.hasPrefix("Subject: ") ? String($0.dropFirst(9)) : $0 }) {
            let trimmed = word.trimmingCharacters(in: .whitespaces)
            #expect(trimmed.hasPrefix("=?UTF-8?B?") && trimmed.hasSuffix("?=") && trimmed.count <= 68)
            decoded += try #require(Data(base64Encoded: String(trimmed.dropFirst(10).dropLast(2))))
        }
        let subject = String(decoding: decoded, as: UTF8.self)
        #expect(subject.count == 200 && subject.hasSuffix("…"))
        #expect(subject.hasPrefix("Pendaftaran REG-   [31mé"), "\(subject.prefix(30))")
        #expect(
            SMTPSender.encodedSubject("Pendaftaran REG-11 telah diterima")
                == "=?UTF-8?B?UGVuZGFmdGFyYW4gUkVHLTExIHRlbGFoIGRpdGVyaW1h?=")
        // One letter with 10,000 combining marks is one character: the cut counts scalars.
        let marks = SMTPSender.encodedSubject("a" + String(repeating: "\u{301}", count: 10_000))
        #expect(marks.utf8.count < 1_000, "\(marks.utf8.count) bytes")
    }

    /// The e-mail's `Date` header, by arithmetic, is what a POSIX `DateFormatter` in
    /// Asia/Makassar wrote (the header before), for 20,000 instants from 1970 to 9999.
    @Test func theDateHeaderIsRFC5322InWITA() {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        formatter.timeZone = TimeZone(identifier: "Asia/Makassar")
        var generator = SystemRandomNumberGenerator()
        var instants: [Double] = [0, -28_800, 86_399.9, 951_782_400, 1_765_155_969.5, 253_402_271_999]
        for _ in 0..<20_000 { instants.append(Double.random(in: 0..<253_402_271_999, using: &generator)) }
        for seconds in instants {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(SMTPSender.dateHeader(secondsSince1970: seconds) == formatter.string(from: date), "\(seconds)")
        }
        #expect(SMTPSender.dateHeader(secondsSince1970: 1_765_155_969) == "Mon, 08 Dec 2025 09:06:09 +0800")
        // A clock outside the years 1 to 9999 writes the epoch, never a malformed year.
        for broken in [Double.nan, .infinity, 253_402_272_000, 2.59e11, -62_135_625_601, -1e12] {
            #expect(SMTPSender.dateHeader(secondsSince1970: broken) == "Thu, 01 Jan 1970 08:00:00 +0800", "\(broken)")
        }
    }

    @Test func startTLSIsRequiredWhenEnabledAndTheServerCertificateIsVerified() async throws {
        let certificates = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("certs")).path
        let (status, output) = try await runProcess(
            "/bin/bash", [repositoryFile("scripts/make-test-certs.sh"), certificates], environment: [:])
        try #require(status == 0, "\(output)")
        let port = freeLoopbackPort()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("smtp-tls")).path
        let server = try ChildProcess(
            "/usr/bin/env",
            [
                "python3", repositoryFile("scripts/test-smtp-server.py"), "\(port)", folder, certificates + "/server.pem",
                certificates + "/server.key",
            ])
        defer { Task { await server.terminate() } }
        try await server.waitForLog("ready", timeout: .seconds(30))
        func message(_ key: String) -> OutgoingNotification {
            OutgoingNotification(
                idempotencyKey: key, channel: .email, recipient: "peserta@example.id", template: "t", subject: "Uji", text: "Isi")
        }
        let url = "smtp://localhost:\(port)"
        let trusted = SMTPSender(url: url, from: "a@example.id", startTLS: true, caFile: certificates + "/ca.pem")
        #expect(await trusted.send(message("tls-ok")) == .sent(providerMessageID: "<tls-ok@notifications.kaltim>"))
        // In clear, the server refuses (530): permanent, the configuration is wrong.
        let plain = SMTPSender(url: url, from: "a@example.id")
        guard case .permanent(let code, _) = await plain.send(message("tls-plain")) else {
            Issue.record("a plaintext submission to a STARTTLS-only server must fail permanently")
            return
        }
        #expect(code == "SMTP_530")
        // A server certificate our CA did not sign: refused by us.
        let untrusted = SMTPSender(url: url, from: "a@example.id", startTLS: true, caFile: certificates + "/other-ca.pem")
        guard case .permanent(let untrustedCode, _) = await untrusted.send(message("tls-untrusted")) else {
            Issue.record("an untrusted server certificate must fail permanently")
            return
        }
        #expect(untrustedCode.hasPrefix("SMTP_CURL_"))
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".eml") }
        #expect(files.count == 1, "only the STARTTLS submission was delivered")
    }

    @Test func anUnreachableSMTPServerIsATransientFailure() async throws {
        // No server: a transient failure, retried later.
        let unreachable = SMTPSender(url: "smtp://127.0.0.1:\(freeLoopbackPort())", from: "a@example.id", timeout: .seconds(5))
        let result = await unreachable.send(
            OutgoingNotification(
                idempotencyKey: "k", channel: .email, recipient: "b@example.id", template: "t", subject: "s", text: "x"))
        guard case .transient = result else {
            Issue.record("expected a transient failure, got \(result)")
            return
        }
    }
}
