"""One (de)serialisation policy for the configuration records written into JSON files (a run's flags.json, the
networks' Keras configs): TrainConfig, ModelConfig, each method's own config, the loss weights.

    to_dict()                      dataclasses.asdict: every field, nested records as dicts
    from_dict(values, where)       the record back; a key the record does not have is refused with a ValueError
                                   naming `where` (the file, and the record in it) and the key: it means another
                                   version of the code wrote the file, whose meaning we cannot guess. A field
                                   missing from the file takes the value in the class's OLD_VALUES (what the runs
                                   written before the field existed were trained with, documented there), else its
                                   default.

`check_values` is the one check of a record's numeric ranges and choices, with the messages every record uses.
"""
import dataclasses


class Record:
    """Mixin of a frozen dataclass that is written to and read from JSON (module doc)."""

    # {field: the value a record written before the field existed holds}; fields not named take their default.
    OLD_VALUES = {}

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values, where=None):
        """The record of a JSON object; one ValueError naming `where` (default: the class name) for an unknown key
        or a bad value."""
        values = known_values(cls, values, where)
        try:
            return cls(**values)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where or cls.__name__}: {error}") from None


def known_values(cls, values, where=None):
    """{field: value} of a record read from JSON: `values` with cls.OLD_VALUES filling the fields it lacks; one
    ValueError naming `where` and the first unknown key, or the type found when `values` is not an object."""
    where = where or cls.__name__
    if not isinstance(values, dict):
        raise ValueError(f"{where}: expected a JSON object of {cls.__name__} fields; found {type(values).__name__}")
    fields = [field.name for field in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r} (a {cls.__name__} has {', '.join(fields)}); "
                         f"the file was written by another version")
    return {**getattr(cls, "OLD_VALUES", {}), **values}


def check_values(record, ranges=None, choices=None):
    """Refuse (one ValueError naming the field) a value outside its range ({field: physstd.cli.Range}) or not among
    its choices ({field: tuple})."""
    for name, allowed in (choices or {}).items():
        value = getattr(record, name)
        if value not in allowed:
            raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    for name, allowed in (ranges or {}).items():
        value = getattr(record, name)
        if value not in allowed:
            integer = isinstance(record.__dataclass_fields__[name].default, int)
            raise ValueError(f"{name} must be {allowed.describe(integer)}, got {value!r}")
