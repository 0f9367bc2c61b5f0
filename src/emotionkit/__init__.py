"""emotionkit: fine-tune, evaluate and run English emotion classifiers (six emotions; the default model also
says when a text carries none of them, or several).

>>> from emotionkit import EmotionClassifier
>>> EmotionClassifier.load()("what a lovely surprise").label  # doctest: +SKIP
'surprise'
"""

from emotionkit.labels import LABELS
from emotionkit.predict import EmotionClassifier, Prediction

__version__ = "0.1.0"
__all__ = ["LABELS", "EmotionClassifier", "Prediction", "__version__"]
