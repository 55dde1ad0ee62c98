"""Spoof types: one name per attack species, its category, and the region of its preliminary mask P0.

P0 = 1 marks pixels that must not be inpainted (PhySTD paper, Fig. 7): print and replay cover the whole image;
3D masks and makeup cover the face, so only the outside is fixed; attacks over the eyes fix the lower face;
attacks over the mouth or a part of the face fix the upper face. SiW-M names are used for all
datasets; the synthetic set uses a subset of them. Types no SiW-M name fits are appended after SiW-M's 13, so the
integer ids of the others never change: `rigid_mask` (WMCA's rigid masks, CeFA's 3D-printed masks).
"""
import collections

SpoofType = collections.namedtuple("SpoofType", "name category p0_region")

# p0_region: 'none' (live), 'whole', 'outside_face', 'lower_face', 'upper_face'.
SPOOF_TYPES = (
    SpoofType("live", "live", "none"),
    SpoofType("replay", "replay", "whole"),
    SpoofType("print", "print", "whole"),
    SpoofType("half_mask", "mask", "outside_face"),
    SpoofType("silicone_mask", "mask", "outside_face"),
    SpoofType("transparent_mask", "mask", "outside_face"),
    SpoofType("paper_mask", "mask", "outside_face"),
    SpoofType("mannequin", "mask", "outside_face"),
    SpoofType("obfuscation", "makeup", "outside_face"),
    SpoofType("impersonation", "makeup", "outside_face"),
    SpoofType("cosmetic", "makeup", "outside_face"),
    SpoofType("funny_eye", "partial", "lower_face"),
    SpoofType("paper_glasses", "partial", "lower_face"),
    SpoofType("partial_paper", "partial", "upper_face"),
    SpoofType("rigid_mask", "mask", "outside_face"),
)

NAMES = tuple(t.name for t in SPOOF_TYPES)
BY_NAME = {t.name: t for t in SPOOF_TYPES}
# The 13 SiW-M spoof types in the column order of the PhySTD paper's Tab. 3-5.
SIWM_TYPES = NAMES[1:14]


def type_id(name):
    """Integer id of a spoof type name (0 = live); the id used in tf.data batches and score files."""
    try:
        return NAMES.index(name)
    except ValueError:
        raise ValueError(f"unknown spoof type {name!r}; expected one of {', '.join(NAMES)}") from None


# Species whose P0 differs from their type's: SiW-M's partial paper comes as Partial_Eye (paper over the
# eyes: the lower face is fixed) and Partial_Mouth (paper over the mouth: the upper face is fixed).
_P0_REGION_BY_SPECIES = {"Partial_Eye": "lower_face", "Partial_Mouth": "upper_face"}


def p0_region(spoof_type, species=None):
    """The P0 region of a video from its spoof type name and, where the dataset gives it, its species."""
    if species in _P0_REGION_BY_SPECIES:
        return _P0_REGION_BY_SPECIES[species]
    type_id(spoof_type)  # a clear error for an unknown name
    return BY_NAME[spoof_type].p0_region
