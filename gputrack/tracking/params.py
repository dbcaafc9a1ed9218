"""Parameters of conservation tracking (ilastik GUI defaults, spec §4.6)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import InputError


@dataclass(frozen=True)
class TrackingParameters:
    """All knobs of the conservation-tracking model.

    Defaults are those a user of ilastik's GUI gets (ilastik-spec §4.6): detection weight 10,
    division weight 10, transition weight 10, appearance and disappearance costs 500, border
    width 10, 3 nearest neighbours, maximal distance 200, division threshold 0.1,
    transition parameter alpha 5, one object per merger.

    Parameters
    ----------
    max_objects : int
        "Max. Objects per Merger" (M): the largest object count a detection may carry.
    with_divisions : bool
        Allow divisions ("Divisible Objects"); False for animal tracking (spec §5).
    detection_weight, division_weight, transition_weight : float
        Weights of the detection, division and transition energies.
    appearance_cost, disappearance_cost : float
        Weights of the appearance and disappearance energies.
    border_width : float
        Width of the border zone of the field of view where appearing/disappearing is cheaper,
        in the units of the positions (physical units; pixels under ``ilastik_compat``).
    k_neighbors : int
        "Transition Neighbourhood": nearest neighbours linked forward and backward.
    max_distance : float
        Only neighbours strictly closer than this are linked.
    division_threshold : float
        A detection may divide only if its division probability exceeds this.
    transition_alpha : float
        Transition probability p = exp(-d / alpha).
    detection_probability : float
        Probability of "1 object" used when the table carries no ``count_prob_*`` columns
        (then P(0) = 1 - p and P(k >= 2) is the clamp floor 1e-7).
    division_probability : float or None
        Division probability used when the table carries no ``div_prob`` column; None (default)
        means no detection may divide unless ``div_prob`` is given.
    keep_detections : bool
        Every detection carries at least one object: switching it off ("false detection") costs
        more than any track through it, so the optimum keeps it. What a label image given as
        input means without a count classifier (:func:`gputrack.tracking.track_labels`).
    ilastik_compat : bool
        Reproduce ilastik's quirks: linking distances on unscaled pixel centres and "link all
        targets when the next frame has <= k objects". Off by default (distances are physical).
    epsilon : float
        Convexification epsilon (hytra's 1e-6).
    """

    max_objects: int = 1
    with_divisions: bool = True
    detection_weight: float = 10.0
    division_weight: float = 10.0
    transition_weight: float = 10.0
    appearance_cost: float = 500.0
    disappearance_cost: float = 500.0
    border_width: float = 10.0
    k_neighbors: int = 3
    max_distance: float = 200.0
    division_threshold: float = 0.1
    transition_alpha: float = 5.0
    detection_probability: float = 0.99
    division_probability: float | None = None
    keep_detections: bool = False
    ilastik_compat: bool = False
    epsilon: float = 1e-6

    def __post_init__(self) -> None:
        if int(self.max_objects) < 1:
            raise InputError(f"max_objects must be >= 1, got {self.max_objects}")
        if int(self.k_neighbors) < 1:
            raise InputError(f"k_neighbors must be >= 1, got {self.k_neighbors}")
        if self.max_distance <= 0 or self.transition_alpha <= 0:
            raise InputError("max_distance and transition_alpha must be > 0")
        if not 0.0 < self.detection_probability < 1.0:
            raise InputError(f"detection_probability must be in (0, 1), got {self.detection_probability}")
        if self.border_width < 0:
            raise InputError(f"border_width must be >= 0, got {self.border_width}")

    def replace(self, **changes) -> TrackingParameters:
        """Return a copy with some fields changed."""
        return replace(self, **changes)


def animal_parameters(**changes) -> TrackingParameters:
    """Parameters of ilastik's animal tracking workflow: divisions off (spec §5).

    Examples
    --------
    >>> animal_parameters().with_divisions
    False
    """
    return TrackingParameters(with_divisions=False, **changes)
