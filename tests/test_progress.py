import io

from paddle_dcgan.training.progress import ProgressBar, format_duration


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_only_on_a_terminal():
    tty = _Terminal()
    bar = ProgressBar(tty, width=10)
    bar.update(5, 10, "epoch 1/2 | 300 img/s")
    assert tty.getvalue().startswith("\r[#####-----] 5/10 epoch 1/2 | 300 img/s")
    piped = io.StringIO()
    ProgressBar(piped).update(5, 10, "x")
    assert piped.getvalue() == ""


def test_format_duration():
    assert format_duration(59.6) == "1m00s"
    assert format_duration(3725) == "1h02m"
