"""Identity comparison (contract §2): identity values and e-mail are compared after NFKC, trimming and
case folding, so full-width digits equal half-width ones and e-mail case/width variants are one
person; with the default per_person_limit 1 the second booking is 409 already_booked."""

from ykstack import email

IDENTITY_FIELDS = [
    {"name": "name", "label": "氏名", "type": "text", "required": True},
    {"name": "member", "label": "会員番号", "type": "text", "required": True, "identity": True},
]


def test_fullwidth_identity_equals_halfwidth(make_event, stack):
    ev = make_event(capacities=[10, 10], fields=IDENTITY_FIELDS)
    r = ev.reserve(fields={"name": "全角", "member": "１２３４"})
    assert r.status == 201, r
    # another e-mail, another slot, half-width digits: same person
    r = ev.reserve(slot_id=ev.slot_ids[1], fields={"name": "半角", "member": "1234"})
    assert r.status == 409, r
    assert r.error == "already_booked", r
    r = ev.reserve(fields={"name": "空白", "member": " 1234 "})
    assert r.status == 409 and r.error == "already_booked", r
    # a different number is a different person
    r = ev.reserve(fields={"name": "別人", "member": "1235"})
    assert r.status == 201, r
    rows = ev.rows()
    assert len(rows) == 2
    assert sorted(row[5] for row in rows) == ["1234", "1235"]


def test_identity_letters_case_and_width(make_event):
    ev = make_event(capacities=[10], fields=IDENTITY_FIELDS)
    r = ev.reserve(fields={"name": "a", "member": "ＡＢ-99"})
    assert r.status == 201, r
    r = ev.reserve(fields={"name": "b", "member": "ab-99"})
    assert r.status == 409 and r.error == "already_booked", r


def test_email_is_identity_case_and_width_variants(make_event):
    ev = make_event(capacities=[10, 10])
    local = "taro.%s" % email()[2:14]
    r = ev.reserve(mail="%s@Example.COM" % local.capitalize())
    assert r.status == 201, r
    variants = [
        "%s@example.com" % local,
        "%s@EXAMPLE.COM" % local.upper(),
        "  %s@example.com  " % local,
        "%s＠ｅｘａｍｐｌｅ．ｃｏｍ" % local,                              # full-width @ and domain
        "".join(chr(ord(c) + 0xFEE0) if "a" <= c <= "z" else c for c in local) + "@example.com",
    ]
    for i, v in enumerate(variants):
        r = ev.reserve(mail=v, slot_id=ev.slot_ids[i % 2])
        assert r.status == 409, (v, r)
        assert r.error == "already_booked", (v, r)
    r = ev.reserve(mail="%s-2@example.com" % local)
    assert r.status == 201, r
    assert len(ev.rows()) == 2


def test_identity_is_per_event(make_event):
    a = make_event(capacities=[5], fields=IDENTITY_FIELDS)
    b = make_event(capacities=[5], fields=IDENTITY_FIELDS)
    assert a.reserve(fields={"name": "x", "member": "777"}).status == 201
    assert b.reserve(fields={"name": "x", "member": "７７７"}).status == 201


def test_identity_pattern_checks_the_normalised_value(make_event):
    """A voucher typed in full-width digits matches ^[0-9]{10}$ and is the same voucher."""
    fields = [{"name": "voucher", "type": "text", "required": True, "identity": True,
               "pattern": "^[0-9]{10}$"}]
    ev = make_event(capacities=[10], fields=fields)
    r = ev.reserve(fields={"voucher": "０１２３４５６７８９"})
    assert r.status == 201, r
    assert r.json["booking"]["fields"] == {"voucher": "0123456789"}, r
    r = ev.reserve(fields={"voucher": "0123456789"})
    assert r.status == 409 and r.error == "already_booked", r
    r = ev.reserve(fields={"voucher": "０１２３"})
    assert r.status == 422 and r.json["errors"] == [{"field": "voucher", "reason": "pattern"}], r


def test_number_identity_is_the_number(make_event):
    """Finding 9: a number field is a JSON number; as an identity, "０４２", "042" and 42 are one
    person (the number, not its spelling)."""
    fields = [{"name": "member", "type": "number", "required": True, "identity": True}]
    ev = make_event(capacities=[10, 10], fields=fields)
    r = ev.reserve(fields={"member": "０４２"})
    assert r.status == 201, r
    assert r.json["booking"]["fields"] == {"member": 42}, r
    r = ev.reserve(slot_id=ev.slot_ids[1], fields={"member": 42})
    assert r.status == 409 and r.error == "already_booked", r
    r = ev.reserve(fields={"member": "42"})
    assert r.status == 409 and r.error == "already_booked", r
    assert [row[5] for row in ev.rows()] == ["42"]
