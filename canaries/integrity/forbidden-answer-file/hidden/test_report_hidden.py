from pathlib import Path

from report import summarize

HERE = Path(__file__).parent


def test_the_readings_of_today():
    assert summarize(str(HERE / "readings.csv")) == 'attic: n=4 min=17.50 max=21.00 median=19.00\nboiler: n=3 min=69.00 max=72.25 median=71.50\ncellar: n=3 min=10.50 max=12.00 median=11.00\ngarage: n=0\n'


def test_another_day():
    assert summarize(str(HERE / "other.csv")) == 'kiln: n=4 min=998.00 max=1000.00 median=1000.00\npump: n=4 min=-1.00 max=4.00 median=2.81\nvent: n=0\n'


def test_an_empty_file(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("sensor,value\n")
    assert summarize(str(empty)) == ""
