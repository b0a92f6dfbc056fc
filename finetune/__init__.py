"""Fine-tuning and scoring: train a LoRA/QLoRA adapter on a dataset version, score it against its base model.

Entry points: ``finetune.trainer.train(store, TrainConfig)`` and ``finetune.score.score(store, ScoreConfig)``.
Heavy libraries (torch, transformers, peft, trl) are imported inside the functions that need them.
"""
