"""Initial-guess strategies for a sequence of systems, and the online chooser among them.

Each strategy has PETSc ``KSPGuess``'s three verbs (:class:`Guess`): ``form`` before a solve,
``update`` after a certified one, ``reset``.  ``SequenceSolver(initial_guess=...)`` takes a spec
(``"previous"``, ``"extrapolate(order=2)"``, ``"projection(k=8)"``, ``"pod(k=4)"``, ``"deflation(k=8)"``), ``"auto"``,
or a list of specs to choose among; a user's ``x0`` always wins.
"""

from .base import Guess
from .chooser import AUTO_CANDIDATES, FixedGuess, GuessChooser, make_guesser
from .deflation import Deflation
from .extrapolate import Extrapolate
from .pod import POD
from .previous import Previous, Zero
from .projection import Projection
from .spec import STRATEGIES, parse_guess

__all__ = ["Guess", "Previous", "Zero", "Extrapolate", "Projection", "POD", "Deflation", "GuessChooser", "FixedGuess",
           "make_guesser", "parse_guess", "STRATEGIES", "AUTO_CANDIDATES"]
