"""Audio -> per-video-frame features: offline (`features`: log-mel, Whisper-tiny encoder, imported
DeepSpeech/HuBERT arrays), streaming (`streaming`: the same, chunk by chunk for live input), and
text-to-speech with phone timings (`tts`: espeak-ng).
"""
