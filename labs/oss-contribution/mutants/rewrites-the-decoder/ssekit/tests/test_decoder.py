from ssekit import Event, SSEDecoder


def decode(*chunks: bytes) -> list[Event]:
    decoder = SSEDecoder()
    return [event for chunk in chunks for event in decoder.feed(chunk)]


def test_one_event():
    assert decode(b"data: hello\n\n") == [Event("hello")]


def test_events_in_one_chunk():
    assert decode(b"data: a\n\ndata: b\n\n") == [Event("a"), Event("b")]


def test_multiline_data_is_joined_with_newlines():
    assert decode(b"data: first\ndata: second\n\n") == [Event("first\nsecond")]


def test_no_space_after_colon():
    assert decode(b"data:tight\n\n") == [Event("tight")]


def test_only_one_leading_space_is_removed():
    assert decode(b"data:  two\n\n") == [Event(" two")]


def test_empty_data_line_dispatches_an_empty_event():
    assert decode(b"data:\n\n") == [Event("")]


def test_a_blank_line_without_data_dispatches_nothing():
    assert decode(b"event: ping\n\ndata: x\n\n") == [Event("x")]


def test_event_type():
    assert decode(b"event: delta\ndata: x\n\n") == [Event("x", event="delta")]


def test_event_type_resets_after_dispatch():
    events = decode(b"event: delta\ndata: x\n\ndata: y\n\n")
    assert events == [Event("x", event="delta"), Event("y")]


def test_last_event_id_carries_over():
    events = decode(b"id: 7\ndata: x\n\ndata: y\n\nid\ndata: z\n\n")
    assert events == [Event("x", id="7"), Event("y", id="7"), Event("z", id="")]


def test_id_with_nul_is_ignored():
    assert decode(b"id: 1\ndata: a\n\nid: 2\x00\ndata: b\n\n")[1] == Event("b", id="1")


def test_comments_are_skipped():
    assert decode(b": keep-alive\ndata: x\n: another\n\n") == [Event("x")]


def test_unknown_fields_are_ignored():
    assert decode(b"foo: bar\ndata: x\n\n") == [Event("x")]


def test_retry():
    decoder = SSEDecoder()
    decoder.feed(b"retry: 2500\n\n")
    assert decoder.retry == 2500
    decoder.feed(b"retry: soon\n\n")
    assert decoder.retry == 2500


def test_crlf_line_endings():
    assert decode(b"data: a\r\ndata: b\r\n\r\n") == [Event("a\nb")]


def test_cr_line_endings():
    assert decode(b"data: a\rdata: b\r\r") == [Event("a\nb")]


def test_non_ascii_data():
    assert decode("data: naïve café ☕\n\n".encode()) == [Event("naïve café ☕")]


def test_an_unfinished_event_is_not_dispatched():
    assert decode(b"data: a\n\ndata: b\n") == [Event("a")]


def test_events_in_separate_chunks():
    assert decode(b"data: a\n\n", b"data: b\n\n") == [Event("a"), Event("b")]


def test_feed_returns_the_events_each_chunk_completes():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\ndata: b\n") == [Event("a")]
    assert decoder.feed(b"\n") == [Event("b")]


def test_chunks_cut_anywhere_give_the_same_events():
    stream = "event: delta\r\ndata: naïve café ☕\r\ndata: two\r\n\r\nid: 9\ndata: x\n\n".encode()
    whole = decode(stream)
    assert whole == [Event("naïve café ☕\ntwo", event="delta"), Event("x", id="9")]
    for cut in range(1, len(stream)):
        assert decode(stream[:cut], stream[cut:]) == whole, f"cut at byte {cut}"
    assert decode(*(stream[i : i + 1] for i in range(len(stream)))) == whole
