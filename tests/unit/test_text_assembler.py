from warden.engine.text_assembler import TextAssembler


def run(pieces: list[bytes], stop: tuple[str, ...] = ()) -> tuple[str, bool]:
    assembler = TextAssembler(stop)
    out = "".join(assembler.push(p) for p in pieces) + assembler.flush()
    return out, assembler.stopped


def test_plain_text_passes_through() -> None:
    assert run([b"Hello", b" world"]) == ("Hello world", False)


def test_multibyte_character_split_across_tokens() -> None:
    euro = "€".encode()
    assembler = TextAssembler()
    assert assembler.push(euro[:1]) == ""
    assert assembler.push(euro[1:]) == "€"


def test_stop_string_across_tokens_is_never_emitted() -> None:
    out, stopped = run([b"one ", b"tw", b"o ##", b"EN", b"D tail"], stop=("##END",))
    assert out == "one two "
    assert stopped


def test_partial_stop_prefix_is_released_when_it_diverges() -> None:
    out, stopped = run([b"a #", b"# b"], stop=("##END",))
    assert out == "a ## b"
    assert not stopped


def test_earliest_of_several_stops_wins() -> None:
    out, _ = run([b"x STOP1 y STOP2"], stop=("STOP2", "STOP1"))
    assert out == "x "


def test_nothing_after_stop() -> None:
    assembler = TextAssembler(("!",))
    assert assembler.push(b"hi!") == "hi"
    assert assembler.push(b"more") == ""
    assert assembler.flush() == ""
