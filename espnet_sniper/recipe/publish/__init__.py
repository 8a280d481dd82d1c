"""Stages 9 and 10: the model card (model_card), the packed model checked in stock ESPnet
(check_package), the Hugging Face hub folder (hub_folder) and its upload (upload_hf)."""
